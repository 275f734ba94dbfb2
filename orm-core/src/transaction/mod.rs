//! Transaction: whether the session's database transaction is open, the
//! savepoints open inside it, the log of what its flushes wrote, and how
//! memory is brought back when the transaction, or a savepoint, rolls back
//! (SQLAlchemy's `SessionTransaction`, nested ones included).
//!
//! A flush opens the transaction (`BEGIN IMMEDIATE`, or a `SAVEPOINT` inside
//! one already open) and logs each object it wrote; commit forgets the log,
//! rollback replays it backwards. Objects whose values may come from the
//! transaction itself (first loaded, or refreshed, while it was open) are
//! noted too: rollback re-reads them. A savepoint (see [`savepoint`]) is a
//! mark into those two logs plus the values, as of the mark, of the objects
//! written since: rolling back to it replays only the log after the mark.
//! The session decides when and runs the statements; this module owns the
//! bookkeeping, the names of the savepoints and the restore.

mod savepoint;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::error::Result;
use crate::identity::IdentityMap;
use crate::persistence::{self, Inserted};
use crate::state::{AnyNode, State, address};
use crate::value::Value;

use savepoint::Level;
pub(crate) use savepoint::{Kept, Standing};

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
    /// The addresses of the objects in `read` since the innermost
    /// savepoint's mark (all of it when none is open): a load of 10,000
    /// rows in an open transaction notes each with a lookup, not a scan of
    /// those noted before it.
    noted: RefCell<HashSet<*const ()>>,
    /// The open savepoints, outermost first.
    savepoints: RefCell<Vec<Level>>,
    /// The id the next savepoint gets: a guard names its savepoint by id,
    /// so it can tell that one of the same depth replaced it.
    next_savepoint: Cell<u64>,
}

/// How far a rollback goes back.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    /// To the transaction's start.
    Transaction,
    /// To the savepoint of this id (the innermost open one).
    Savepoint(u64),
}

/// What a rollback undoes in memory: the log after its mark, and what it
/// brings objects back to.
pub(crate) struct Undone {
    pub written: Vec<Written>,
    pub read: Vec<Rc<dyn AnyNode>>,
    pub to: RollbackTo,
    /// Savepoints closed with it: only dropped, outside any borrow.
    _closed: Vec<Level>,
}

/// The values a rollback restores.
pub(crate) enum RollbackTo {
    /// The transaction's start: each object's restore point in its `Meta`.
    Start,
    /// A savepoint: for objects written since it, the values they had when
    /// it began; for the others, their values before their unflushed
    /// changes. `earlier`: the objects the transaction wrote before the
    /// savepoint, which keep their restore point for the transaction's start.
    Savepoint {
        values: HashMap<*const (), Kept>,
        earlier: HashSet<*const ()>,
    },
}

/// The deleted objects among those a savepoint keeps values of.
fn deleted_among(values: &HashMap<*const (), Kept>) -> Vec<Rc<dyn AnyNode>> {
    let kept = values.values().map(|(node, _)| node);
    kept.filter(|node| node.state() == State::Deleted)
        .cloned()
        .collect()
}

impl RollbackTo {
    /// The deleted objects a savepoint keeps values of (see
    /// [`Transaction::keep_before_change`]): changed since it, they are
    /// in no log of writes, and its rollback restores them from here.
    pub(crate) fn deleted_kept(&self) -> Vec<Rc<dyn AnyNode>> {
        match self {
            RollbackTo::Savepoint { values, .. } => deleted_among(values),
            RollbackTo::Start => Vec::new(),
        }
    }

    /// The values `node` is to get back, if it changed.
    fn values(&self, node: &Rc<dyn AnyNode>) -> Option<Box<[Value]>> {
        match self {
            RollbackTo::Start => node.meta().restore_point(),
            RollbackTo::Savepoint { values, .. } => match values.get(&address(node)) {
                Some((_, kept)) => Some(kept.clone()),
                None => node.meta().snapshot_copy(),
            },
        }
    }

    /// Forgets what `node` changed since the point rolled back to.
    fn forget(&self, node: &Rc<dyn AnyNode>) {
        match self {
            RollbackTo::Savepoint { earlier, .. } if earlier.contains(&address(node)) => {
                node.meta().discard_changes_since_savepoint();
            }
            _ => node.meta().forget_changes(),
        }
    }
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
    /// refresh): its values may be the transaction's own, or a savepoint's.
    pub(crate) fn note_read(&self, node: Rc<dyn AnyNode>) {
        if self.open.get() {
            // Noted once per savepoint: rolling back to the innermost one
            // re-reads what was read since it, even if read before too.
            if self.noted.borrow_mut().insert(address(&node)) {
                self.read.borrow_mut().push(node);
            }
        }
    }

    /// The read log was emptied: nothing is noted (and the set's room,
    /// perhaps for a large load, is given back).
    fn forget_noted(&self) {
        *self.noted.borrow_mut() = HashSet::default();
    }

    /// Commit succeeded: nothing to restore any more.
    pub(crate) fn committed(&self) {
        self.open.set(false);
        let written = std::mem::take(&mut *self.written.borrow_mut());
        written.iter().for_each(Written::committed);
        let read = std::mem::take(&mut *self.read.borrow_mut());
        let closed = std::mem::take(&mut *self.savepoints.borrow_mut());
        self.forget_noted();
        drop((written, read, closed));
    }

    /// Checks that a rollback of `scope` can restore every object it must,
    /// before it changes anything: each object to restore must be free of
    /// the user's guards. `dirty` are the objects with unflushed changes.
    pub(crate) fn check_restorable(&self, scope: Scope, dirty: &[Rc<dyn AnyNode>]) -> Result<()> {
        let (written_from, read_from) = match scope {
            Scope::Transaction => (0, 0),
            Scope::Savepoint(id) => self.marks_of(id),
        };
        for w in self.written.borrow().iter().skip(written_from) {
            w.node().check_writable()?;
        }
        for node in self.read.borrow().iter().skip(read_from) {
            if node.state() == State::Persistent && node.meta().session().is_some() {
                node.check_writable()?;
            }
        }
        // Deleted objects changed since the savepoint, which no log of
        // writes may name any more.
        if let Scope::Savepoint(_) = scope {
            for node in self.deleted_kept_now() {
                node.check_writable()?;
            }
        }
        for node in dirty {
            let restores = match scope {
                Scope::Transaction => node.meta().restore_point().is_some(),
                Scope::Savepoint(_) => node.meta().has_snapshot() || self.kept(node),
            };
            if node.state() != State::Transient && restores {
                node.check_writable()?;
            }
        }
        Ok(())
    }

    /// Takes the whole log out for a rollback of the transaction, which
    /// closes every savepoint in it too.
    pub(crate) fn take(&self) -> Undone {
        self.open.set(false);
        let undone = Undone {
            written: std::mem::take(&mut *self.written.borrow_mut()),
            read: std::mem::take(&mut *self.read.borrow_mut()),
            to: RollbackTo::Start,
            _closed: std::mem::take(&mut *self.savepoints.borrow_mut()),
        };
        self.forget_noted();
        undone
    }

    /// Forgets everything (the session let go of its objects). The
    /// transaction and its savepoints stay open, with nothing to restore.
    /// Returns what it forgot, to drop outside the borrows.
    pub(crate) fn clear(&self) -> (Vec<Written>, Vec<Rc<dyn AnyNode>>, Vec<Kept>) {
        let kept = self.forget_savepoint_values();
        let forgotten = (
            std::mem::take(&mut *self.written.borrow_mut()),
            std::mem::take(&mut *self.read.borrow_mut()),
            kept,
        );
        self.forget_noted();
        forgotten
    }
}

/// Undoes the log of a rollback in memory, newest first, bringing objects
/// back to what `to` says. Objects inserted after the point rolled back to
/// leave the session and keep the values they have: only their insert is
/// undone, not their later changes. Returns the objects taken out of the
/// identity map, to drop outside it.
pub(crate) fn undo(
    written: &[Written],
    to: &RollbackTo,
    identity: &RefCell<IdentityMap>,
) -> Result<Vec<Rc<dyn AnyNode>>> {
    let inserted: HashSet<*const ()> = written
        .iter()
        .filter_map(|w| match w {
            Written::Inserted { node, .. } => Some(address(node)),
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
                if inserted.contains(&address(node)) => {}
            Written::Updated { node, .. } => restore(node, to)?,
            Written::Deleted { node } => {
                node.meta().set_state(State::Persistent);
                released.extend(Rc::clone(node).register(&mut identity.borrow_mut())?);
                restore(node, to)?;
            }
        }
    }
    Ok(released)
}

/// Brings an object back to its values at the point rolled back to (or
/// before its unflushed changes) and forgets the change tracking since.
pub(crate) fn restore(node: &Rc<dyn AnyNode>, to: &RollbackTo) -> Result<()> {
    if let Some(values) = to.values(node) {
        node.restore(&values)?;
    }
    to.forget(node);
    Ok(())
}
