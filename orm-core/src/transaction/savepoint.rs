//! Savepoints: one mark into the transaction's logs per open `SAVEPOINT`,
//! innermost last, each with the values its objects had when it began
//! (SQLAlchemy's nested `SessionTransaction`).
//!
//! A savepoint begins right after a flush, so no object has unflushed
//! changes then: an object's values at the savepoint are its values before
//! its first change since, which the first flush that writes it after the
//! mark keeps here (before that flush runs). Releasing a savepoint hands
//! what it kept to the one around it, whose own values, older, win;
//! rolling back to one takes the logs after its marks out for `undo`.

use std::collections::hash_map::Entry;
use std::rc::Rc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{RollbackTo, Transaction, Undone, Written};
use crate::error::{Misuse, Result};
use crate::state::{AnyNode, State, address};
use crate::value::Value;

/// An object and its column values when a savepoint began.
pub(crate) type Kept = (Rc<dyn AnyNode>, Box<[Value]>);

/// One open savepoint.
pub(crate) struct Level {
    id: u64,
    /// How long the written log was when it began.
    written: usize,
    /// How long the read log was when it began.
    read: usize,
    /// The transaction's `noted` when it began: the objects read since the
    /// mark around it, which are noted again when it closes.
    noted_before: HashSet<*const ()>,
    /// The values, when it began, of the objects flushes wrote since.
    values: HashMap<*const (), Kept>,
    /// Its guard went away without closing it: it is rolled back as soon
    /// as it is the innermost again.
    abandoned: bool,
}

/// Where a savepoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The innermost open savepoint.
    Innermost,
    /// Open, with another savepoint open inside it.
    Outer,
    /// No longer open (the transaction it was in rolled back or ended).
    Closed,
}

/// The SQL name of the savepoint at `depth` (1 for the outermost).
fn name(depth: usize) -> String {
    format!("orm_sp_{depth}")
}

impl Transaction {
    /// The SQL name the next savepoint gets: `orm_sp_1` for the outermost,
    /// `orm_sp_2` inside it, and so on.
    pub(crate) fn next_savepoint_name(&self) -> String {
        name(self.savepoints.borrow().len() + 1)
    }

    /// A savepoint was opened (its `SAVEPOINT` ran): marks the logs where
    /// they stand. Returns its id.
    pub(crate) fn savepoint_begun(&self) -> u64 {
        let id = self.next_savepoint.get();
        self.next_savepoint.set(id + 1);
        let level = Level {
            id,
            written: self.written.borrow().len(),
            read: self.read.borrow().len(),
            noted_before: std::mem::take(&mut *self.noted.borrow_mut()),
            values: HashMap::default(),
            abandoned: false,
        };
        self.savepoints.borrow_mut().push(level);
        id
    }

    /// Where the savepoint `id` stands.
    pub(crate) fn standing(&self, id: u64) -> Standing {
        let levels = self.savepoints.borrow();
        match levels.iter().position(|l| l.id == id) {
            Some(i) if i + 1 == levels.len() => Standing::Innermost,
            Some(_) => Standing::Outer,
            None => Standing::Closed,
        }
    }

    /// Fails unless the savepoint `id` (called `name`) is the innermost
    /// open one.
    pub(crate) fn check_innermost(&self, id: u64, savepoint: &str) -> Result<()> {
        match self.standing(id) {
            Standing::Innermost => Ok(()),
            Standing::Outer => Err(Misuse::SavepointNotInnermost {
                savepoint: savepoint.to_owned(),
                innermost: name(self.savepoints.borrow().len()),
            }
            .into()),
            Standing::Closed => Err(Misuse::SavepointClosed {
                savepoint: savepoint.to_owned(),
            }
            .into()),
        }
    }

    /// The innermost open savepoint, as its id and name, and whether its
    /// guard abandoned it.
    pub(crate) fn innermost(&self) -> Option<(u64, String, bool)> {
        let levels = self.savepoints.borrow();
        let level = levels.last()?;
        Some((level.id, name(levels.len()), level.abandoned))
    }

    /// The guard of savepoint `id` went away without closing it.
    pub(crate) fn abandon(&self, id: u64) {
        if let Some(level) = self.savepoints.borrow_mut().iter_mut().find(|l| l.id == id) {
            level.abandoned = true;
        }
    }

    /// The innermost savepoint, `id`, was released: what it wrote and read
    /// now belongs to the savepoint around it, or to the transaction.
    pub(crate) fn released(&self, id: u64) {
        let Some(level) = self.pop(id) else {
            return;
        };
        let mut levels = self.savepoints.borrow_mut();
        let parent = levels.last_mut();
        let mut dropped: Vec<Kept> = Vec::new();
        match parent {
            Some(parent) => {
                for (at, kept) in level.values {
                    match parent.values.entry(at) {
                        Entry::Occupied(_) => dropped.push(kept),
                        Entry::Vacant(slot) => {
                            slot.insert(kept);
                        }
                    }
                }
            }
            None => dropped.extend(level.values.into_values()),
        }
        drop(levels);
        // An object read both before and after the mark is noted once in
        // the log it belongs to now.
        let mut noted = level.noted_before;
        let duplicates = {
            let mut read = self.read.borrow_mut();
            let mark = level.read.min(read.len());
            let since = read.split_off(mark);
            let (twice, once): (Vec<_>, Vec<_>) =
                since.into_iter().partition(|n| noted.contains(&address(n)));
            noted.extend(once.iter().map(address));
            read.extend(once);
            twice
        };
        let since = std::mem::replace(&mut *self.noted.borrow_mut(), noted);
        drop((dropped, duplicates, since));
    }

    /// Takes the logs after the innermost savepoint's marks out for a
    /// rollback to it, and closes it. `None` if `id` is not the innermost.
    pub(crate) fn take_savepoint(&self, id: u64) -> Option<Undone> {
        let level = self.pop(id)?;
        let written = {
            let mut log = self.written.borrow_mut();
            let mark = level.written.min(log.len());
            log.split_off(mark)
        };
        let read = {
            let mut log = self.read.borrow_mut();
            let mark = level.read.min(log.len());
            log.split_off(mark)
        };
        // What was read since the mark is taken out: the log around it is
        // the one noted now, as it was when the savepoint began.
        *self.noted.borrow_mut() = level.noted_before;
        let earlier = self
            .written
            .borrow()
            .iter()
            .map(|w| address(w.node()))
            .collect();
        Some(Undone {
            written,
            read,
            to: RollbackTo::Savepoint {
                values: level.values,
                earlier,
            },
            _closed: Vec::new(),
        })
    }

    /// The values, as of the innermost savepoint, of the objects a flush is
    /// about to write that it keeps none of yet. Empty when no savepoint is
    /// open. Taken before the flush, kept by
    /// [`Transaction::keep_savepoint_values`] once it succeeded.
    pub(crate) fn values_at_savepoint<'a>(
        &self,
        nodes: impl IntoIterator<Item = &'a Rc<dyn AnyNode>>,
    ) -> Result<Vec<Kept>> {
        let levels = self.savepoints.borrow();
        let Some(level) = levels.last() else {
            return Ok(Vec::new());
        };
        let mut seen = HashSet::default();
        let mut kept = Vec::new();
        for node in nodes {
            let at = address(node);
            if matches!(node.state(), State::Transient | State::Pending)
                || level.values.contains_key(&at)
                || !seen.insert(at)
            {
                continue;
            }
            // No unflushed change is older than the savepoint: the values
            // before the first change since are the savepoint's.
            let snapshot = node.meta().snapshot_copy();
            let values = match snapshot {
                Some(values) => values,
                None => node.columns()?,
            };
            kept.push((Rc::clone(node), values));
        }
        Ok(kept)
    }

    /// Keeps what [`Transaction::values_at_savepoint`] took, after the
    /// flush succeeded.
    pub(crate) fn keep_savepoint_values(&self, kept: Vec<Kept>) {
        let mut levels = self.savepoints.borrow_mut();
        let unkept = match levels.last_mut() {
            Some(level) => {
                for (node, values) in kept {
                    level.values.entry(address(&node)).or_insert((node, values));
                }
                Vec::new()
            }
            None => kept,
        };
        drop(levels);
        drop(unkept);
    }

    /// Keeps, as of the innermost savepoint, the values `node` holds now
    /// (`now` reads them), unless it keeps some already: for a deleted
    /// object about to change, whose delete was flushed before the
    /// savepoint (one scan of the log before it, at its first change
    /// since).
    /// Its changes are never flushed, so they may be older than the
    /// savepoint, and its snapshot (its row's values) is not what the
    /// savepoint saw.
    pub(crate) fn keep_before_change(
        &self,
        node: &Rc<dyn AnyNode>,
        now: impl FnOnce() -> Result<Box<[Value]>>,
    ) -> Result<()> {
        let mut levels = self.savepoints.borrow_mut();
        let Some(level) = levels.last_mut() else {
            return Ok(());
        };
        let Entry::Vacant(entry) = level.values.entry(address(node)) else {
            return Ok(());
        };
        // Deleted since the savepoint, its changes are all since it too: its
        // snapshot holds its values at the savepoint, as anyone's does.
        let written = self.written.borrow();
        let before = written.get(..level.written).unwrap_or_default();
        let deleted_before = before
            .iter()
            .any(|w| matches!(w, Written::Deleted { node: n } if address(n) == address(node)));
        if deleted_before {
            entry.insert((Rc::clone(node), now()?));
        }
        Ok(())
    }

    /// The deleted objects the innermost savepoint keeps values of (see
    /// [`Transaction::keep_before_change`]).
    pub(super) fn deleted_kept_now(&self) -> Vec<Rc<dyn AnyNode>> {
        let levels = self.savepoints.borrow();
        levels
            .last()
            .map_or_else(Vec::new, |level| super::deleted_among(&level.values))
    }

    /// Where the marks of savepoint `id` stand.
    pub(super) fn marks_of(&self, id: u64) -> (usize, usize) {
        self.savepoints
            .borrow()
            .iter()
            .find(|l| l.id == id)
            .map_or((0, 0), |l| (l.written, l.read))
    }

    /// Whether the innermost savepoint keeps values of `node`.
    pub(super) fn kept(&self, node: &Rc<dyn AnyNode>) -> bool {
        self.savepoints
            .borrow()
            .last()
            .is_some_and(|l| l.values.contains_key(&address(node)))
    }

    /// The logs were emptied: every savepoint stays open, marking their
    /// start, with no values kept. Returns the values, to drop outside the
    /// borrow.
    pub(super) fn forget_savepoint_values(&self) -> Vec<Kept> {
        let mut forgotten = Vec::new();
        // Its one caller, `Transaction::clear`, empties the logs and the
        // transaction's own `noted` too.
        for level in self.savepoints.borrow_mut().iter_mut() {
            level.written = 0;
            level.read = 0;
            level.noted_before = HashSet::default();
            forgotten.extend(std::mem::take(&mut level.values).into_values());
        }
        forgotten
    }

    /// Takes the innermost savepoint off the stack, if it is `id`.
    fn pop(&self, id: u64) -> Option<Level> {
        let mut levels = self.savepoints.borrow_mut();
        if levels.last().is_some_and(|l| l.id == id) {
            levels.pop()
        } else {
            None
        }
    }
}
