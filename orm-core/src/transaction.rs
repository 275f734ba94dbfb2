//! Transaction: whether the session's database transaction is open, the log
//! of what its flushes wrote, and how memory is brought back when it rolls
//! back (SQLAlchemy's `SessionTransaction`).
//!
//! A flush opens the transaction (`BEGIN IMMEDIATE`, or a `SAVEPOINT` inside
//! one already open) and logs each object it wrote; commit forgets the log,
//! rollback replays it backwards. Objects whose values may come from the
//! transaction itself (first loaded, or refreshed, while it was open) are
//! noted too: rollback re-reads them. The session decides when; this module
//! owns the bookkeeping and the restore.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::error::Result;
use crate::identity::IdentityMap;
use crate::persistence::{self, Inserted};
use crate::state::{AnyNode, State, same_node};
use crate::value::Value;

/// One statement a flush ran, kept until commit or rollback.
pub(crate) enum Written {
    Inserted {
        node: Rc<dyn AnyNode>,
        inserted: Inserted,
    },
    Updated {
        node: Rc<dyn AnyNode>,
        /// The version before the UPDATE bumped it, if it did.
        old_version: Option<Value>,
    },
    Deleted {
        node: Rc<dyn AnyNode>,
    },
}

impl Written {
    pub(crate) fn node(&self) -> &Rc<dyn AnyNode> {
        match self {
            Written::Inserted { node, .. }
            | Written::Updated { node, .. }
            | Written::Deleted { node } => node,
        }
    }

    fn committed(&self) {
        let node = self.node();
        node.meta().committed();
        if let Written::Deleted { node } = self {
            node.meta().detach();
            node.meta().set_state(State::Detached);
        }
    }
}

/// The session's transaction: see the [module docs](self).
#[derive(Default)]
pub(crate) struct Transaction {
    open: Cell<bool>,
    written: RefCell<Vec<Written>>,
    /// Objects whose values may be ones this transaction wrote: rollback
    /// re-reads them.
    read: RefCell<Vec<Rc<dyn AnyNode>>>,
}

impl Transaction {
    pub(crate) fn is_open(&self) -> bool {
        self.open.get()
    }

    pub(crate) fn set_open(&self, open: bool) {
        self.open.set(open);
    }

    /// Logs what a successful flush wrote.
    pub(crate) fn log(&self, written: Vec<Written>) {
        let mut log = self.written.borrow_mut();
        if log.is_empty() {
            *log = written;
        } else {
            log.extend(written);
        }
    }

    /// Notes an object read while the transaction is open (a load or a
    /// refresh): its values may be the transaction's own.
    pub(crate) fn note_read(&self, node: Rc<dyn AnyNode>) {
        if self.open.get() {
            let mut read = self.read.borrow_mut();
            if !read.iter().any(|n| same_node(n, &node)) {
                read.push(node);
            }
        }
    }

    /// Commit succeeded: nothing to restore any more.
    pub(crate) fn committed(&self) {
        self.open.set(false);
        let written = std::mem::take(&mut *self.written.borrow_mut());
        written.iter().for_each(Written::committed);
        let read = std::mem::take(&mut *self.read.borrow_mut());
        drop((written, read));
    }

    /// Checks that rollback can restore every object it must, before it
    /// changes anything: each object to restore must be free of the user's
    /// guards.
    pub(crate) fn check_restorable(&self) -> Result<()> {
        for w in self.written.borrow().iter() {
            w.node().check_writable()?;
        }
        for node in self.read.borrow().iter() {
            if node.state() == State::Persistent && node.meta().session().is_some() {
                node.check_writable()?;
            }
        }
        Ok(())
    }

    /// Takes the log out for a rollback: what was written, and what was read.
    pub(crate) fn take(&self) -> (Vec<Written>, Vec<Rc<dyn AnyNode>>) {
        self.open.set(false);
        (
            std::mem::take(&mut *self.written.borrow_mut()),
            std::mem::take(&mut *self.read.borrow_mut()),
        )
    }

    /// Forgets everything (the session let go of its objects).
    pub(crate) fn clear(&self) -> (Vec<Written>, Vec<Rc<dyn AnyNode>>) {
        let open = self.open.get();
        let taken = self.take();
        self.open.set(open);
        taken
    }
}

/// Undoes the log of a rolled-back transaction in memory, newest first.
/// Objects inserted in the transaction leave the session and keep the
/// values they have: only their insert is undone, not their later changes.
/// Returns the objects taken out of the identity map, to drop outside it.
pub(crate) fn undo(
    written: &[Written],
    identity: &RefCell<IdentityMap>,
) -> Result<Vec<Rc<dyn AnyNode>>> {
    let inserted: Vec<&Rc<dyn AnyNode>> = written
        .iter()
        .filter_map(|w| match w {
            Written::Inserted { node, .. } => Some(node),
            _ => None,
        })
        .collect();
    let mut released = Vec::new();
    for w in written.iter().rev() {
        match w {
            Written::Inserted { node, inserted } => {
                released.extend(node.unregister(&mut identity.borrow_mut())?);
                persistence::undo_insert(node, *inserted);
                let meta = node.meta();
                meta.forget_changes();
                meta.detach();
                meta.set_state(State::Transient);
            }
            Written::Updated { node, .. } | Written::Deleted { node }
                if inserted.iter().any(|n| same_node(n, node)) => {}
            Written::Updated { node, .. } => restore(node)?,
            Written::Deleted { node } => {
                node.meta().set_state(State::Persistent);
                released.extend(Rc::clone(node).register(&mut identity.borrow_mut())?);
                restore(node)?;
            }
        }
    }
    Ok(released)
}

/// Brings an object back to its values at the start of the transaction (or
/// before its unflushed changes) and forgets its change tracking.
pub(crate) fn restore(node: &Rc<dyn AnyNode>) -> Result<()> {
    if let Some(values) = node.meta().restore_point() {
        node.restore(&values)?;
    }
    node.meta().forget_changes();
    Ok(())
}
