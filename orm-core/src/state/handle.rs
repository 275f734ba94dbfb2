//! The user's side of an object: [`Handle`], its [`Write`] guard, and the
//! [`Change`]s it reports.

use std::cell::{Ref, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::{Rc, Weak};

use super::{AnyNode, Node, State, columns};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::sql::render;
use crate::value::Value;

/// A shared handle to one object of a session. Cloning it is cheap, and
/// every handle to the same row of the same session points to the same
/// object: `==` compares identity, not field values.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<User>()?;
/// let session = db.session();
/// let alice = session.add(User::new("Alice"));
/// session.commit()?;
/// let again = session.get::<User>(alice.read()?.id)?;
/// assert_eq!(alice, again); // same object, no SQL was needed
/// again.write()?.name = "Alicia".into();
/// assert_eq!(alice.read()?.name, "Alicia");
/// # Ok(()) }
/// ```
pub struct Handle<T: Model> {
    pub(crate) node: Rc<Node<T>>,
}

impl<T: Model> Handle<T> {
    /// Wraps a new object that belongs to no session yet (transient).
    /// `Session::add` does this for you.
    pub fn new(value: T) -> Handle<T> {
        Handle {
            node: Node::new(value, State::Transient, Weak::new()),
        }
    }

    pub(crate) fn from_node(node: Rc<Node<T>>) -> Handle<T> {
        Handle { node }
    }

    pub(crate) fn erased(&self) -> Rc<dyn AnyNode> {
        Rc::clone(&self.node) as Rc<dyn AnyNode>
    }

    /// Borrows the object for reading. An expired object
    /// ([`Session::expire`](crate::Session::expire)) is read again first,
    /// with one SELECT.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a [`Handle::write`] guard of it is alive;
    /// for an expired object, [`Error::NotFound`] if its row is gone and
    /// [`Error::SessionClosed`] if its session is.
    pub fn read(&self) -> Result<Ref<'_, T>> {
        self.unexpire()?;
        self.node.borrow()
    }

    /// Reads an expired object again (one SELECT); nothing otherwise.
    fn unexpire(&self) -> Result<()> {
        let meta = self.node.meta();
        if !meta.is_expired() {
            return Ok(());
        }
        let session = meta.session().ok_or_else(|| Error::SessionClosed {
            table: T::TABLE.name.to_owned(),
        })?;
        session.refresh(&self.node)
    }

    /// Borrows the object for changing its fields. The first write since it
    /// was loaded or flushed remembers its column values, so the next flush
    /// updates exactly the columns that changed.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while another `read` or `write` guard of it is
    /// alive; for an expired object, as [`Handle::read`].
    pub fn write(&self) -> Result<Write<'_, T>> {
        self.unexpire()?;
        let value = self.node.borrow_mut()?;
        // The guard can replace a relationship field, and its key with it.
        if T::TABLE.has_foreign_keys() {
            crate::identity::note_key_written();
        }
        let meta = self.node.meta();
        if matches!(meta.state(), State::Persistent | State::Deleted) {
            if !meta.has_snapshot() {
                meta.set_snapshot(columns(T::TABLE, &*value));
            }
            // A deleted object's changes are never flushed: a savepoint
            // keeps what it holds before it changes (see `touch`).
            if meta.state() == State::Deleted
                && let Some(session) = meta.session()
            {
                let now = || Ok(columns(T::TABLE, &*value));
                session
                    .transaction()
                    .keep_before_change(&self.erased(), now)?;
            }
            if !meta.set_listed(true)
                && let Some(session) = meta.session()
            {
                session.unit_of_work().mark_dirty(self.erased());
            }
        }
        Ok(Write { value })
    }

    /// The object's state in its session.
    pub fn state(&self) -> State {
        let meta = self.node.meta();
        let gone = meta.session_gone();
        match meta.state() {
            // Never inserted: with its session gone it is just a value again.
            State::Pending if gone => State::Transient,
            State::Persistent | State::Deleted if gone => State::Detached,
            state => state,
        }
    }

    /// The primary key's current value (unassigned until the insert for
    /// database-assigned keys).
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a `write` guard of it is alive.
    pub fn key(&self) -> Result<T::Key> {
        self.node.key()
    }

    /// Whether two handles are the same object.
    pub fn ptr_eq(a: &Handle<T>, b: &Handle<T>) -> bool {
        Rc::ptr_eq(&a.node, &b.node)
    }

    /// What changed in the object since it was loaded or last flushed: for
    /// each changed column, its name, the value in the database and the
    /// current one.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a `write` guard of it is alive.
    pub fn changes(&self) -> Result<Vec<Change>> {
        let value = self.node.borrow()?;
        if !self.node.meta().has_snapshot() {
            return Ok(Vec::new());
        }
        let current = columns(T::TABLE, &*value);
        drop(value);
        Ok(self.node.meta().with_snapshot(|snapshot| {
            let Some(snapshot) = snapshot else {
                return Vec::new();
            };
            T::TABLE
                .columns
                .iter()
                .zip(snapshot.iter().zip(current.iter()))
                .filter(|(_, (old, new))| old != new)
                .map(|(column, (old, new))| Change {
                    column: column.name,
                    database: old.clone(),
                    current: new.clone(),
                })
                .collect()
        }))
    }
}

/// One changed column of an object: [`Handle::changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The column's name.
    pub column: &'static str,
    /// The value the database holds.
    pub database: Value,
    /// The value the object holds now.
    pub current: Value,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.column,
            render(&self.database),
            render(&self.current)
        )
    }
}

impl<T: Model> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            node: Rc::clone(&self.node),
        }
    }
}

impl<T: Model> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        Handle::ptr_eq(self, other)
    }
}

impl<T: Model> Eq for Handle<T> {}

impl<T: Model + fmt::Debug> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node.value.try_borrow() {
            Ok(value) => value.fmt(f),
            Err(_) => write!(f, "{} (being written)", T::TABLE.model),
        }
    }
}

/// A write guard from [`Handle::write`]: dereferences to the object.
pub struct Write<'a, T: Model> {
    value: RefMut<'a, T>,
}

impl<T: Model> Deref for Write<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Model> DerefMut for Write<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
