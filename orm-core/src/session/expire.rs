//! Expiring objects: their values are forgotten, without SQL, and read
//! again (one SELECT) the next time they are used, or overwritten by the
//! next query that returns their row (SQLAlchemy's `expire`,
//! `expire_all`, `expire_on_commit`). Their collections are forgotten too
//! and load again on next access.
//!
//! Expiring discards an object's unflushed changes, as SQLAlchemy does:
//! the database's values win.

use std::rc::Rc;

use crate::error::Result;
use crate::model::Model;
use crate::state::{AnyNode, Handle, State};

use super::{Session, SessionInner};

impl Session {
    /// Expires one object: no SQL now; its next [`Handle::read`] or
    /// [`Handle::write`] reads its row again (one SELECT), and its
    /// collections load again on next access. Unflushed changes of it are
    /// discarded.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let ann = session.add(User::new("Ann"));
    /// session.commit()?;
    /// db.execute_batch("UPDATE users SET name = 'Anna'")?; // behind the session's back
    /// session.expire(&ann)?;
    /// assert_eq!(ann.read()?.name, "Anna"); // read again
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Misuse`](crate::Error::Misuse) if the object is not
    /// persistent in this session; [`Error::Borrowed`](crate::Error::Borrowed)
    /// while a guard of it is alive. Nothing changed then.
    pub fn expire<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        let node = handle.erased();
        self.inner.check_mine(&node)?;
        node.check_writable()?;
        expire_node(&node);
        Ok(())
    }

    /// Expires every object of the session (see [`Session::expire`]).
    ///
    /// # Errors
    /// [`Error::Borrowed`](crate::Error::Borrowed) while a guard of any of
    /// them is alive; nothing changed then.
    pub fn expire_all(&self) -> Result<()> {
        let nodes = self.inner.identity.borrow().nodes();
        for node in &nodes {
            node.check_writable()?;
        }
        for node in &nodes {
            expire_node(node);
        }
        Ok(())
    }

    /// Whether `commit` expires every object afterwards, so the next use
    /// of each reads what the database holds then (SQLAlchemy's
    /// `expire_on_commit`). Off by default: committed objects keep their
    /// values and cost no SQL.
    pub fn set_expire_on_commit(&self, on: bool) {
        self.inner.expire_on_commit.set(on);
    }
}

impl SessionInner {
    /// Expires every persistent object (after a commit: none has changes).
    pub(super) fn expire_loaded(&self) {
        let nodes = self.identity.borrow().nodes();
        for node in nodes.iter().filter(|n| n.state() == State::Persistent) {
            expire_node(node);
        }
    }
}

/// Forgets an object's values and collections until it is read again.
pub(super) fn expire_node(node: &Rc<dyn AnyNode>) {
    node.meta().discard_changes();
    node.each_collection(|field| field.expire());
    node.meta().set_expired(true);
}
