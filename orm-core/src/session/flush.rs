//! The session's writes: autoflush, flush, commit and rollback, each a
//! sequence of asks to the modules that own the state (`unit_of_work`,
//! `transaction`, `identity`, `relation::cascade`), checks before changes.

use std::rc::Rc;

use super::SessionInner;
use crate::error::{Error, Misuse, Result};
use crate::identity::IdentityMap;
use crate::persistence::{Rows, Stop};
use crate::relation::cascade;
use crate::schema::TableDef;
use crate::sql::Conn;
use crate::state::{AnyNode, State, row_name};
use crate::transaction::{self, Scope, Undone, Written};
use crate::unit_of_work::{self, Work};

impl SessionInner {
    /// Flushes first if autoflush is on and there is anything to write.
    /// Objects written to but not changed are let go of when nothing is
    /// to be written, so that the next autoflush does not compare them
    /// again (a loop of writes that change little, each followed by a
    /// query, would compare every one each time).
    pub(crate) fn autoflush(&self) -> Result<()> {
        if !self.autoflush.get() || self.flushing.get() {
            return Ok(());
        }
        if !self.unit_of_work.has_work() {
            self.unit_of_work.forget_clean();
            return Ok(());
        }
        let conn = self.conn()?;
        conn.because(
            true,
            || match conn.current_cause() {
                Some(before) => format!("autoflush before the {before}"),
                None => "autoflush".to_owned(),
            },
            || self.flush(),
        )
    }

    pub(crate) fn flush(&self) -> Result<()> {
        if self.flushing.get() {
            return Err(Misuse::Reentrant.into());
        }
        self.delete_orphans()?;
        if !self.unit_of_work.has_work() {
            self.unit_of_work.forget_clean();
            return Ok(());
        }
        self.flushing.set(true);
        let result = match self.flush_now(Rows::Many) {
            // Multi-row INSERTs could not go on (keys out of order, keys
            // refused): the database undid the flush and it runs again, one
            // row per INSERT.
            Err(Stop::RowByRow) => self.flush_now(Rows::One),
            other => other,
        };
        self.flushing.set(false);
        result.map_err(Stop::into_error)
    }

    /// Deletes the marked orphans that are still orphans.
    fn delete_orphans(&self) -> Result<()> {
        let orphans = self.unit_of_work.orphans_to_delete()?;
        let mut deleted = Vec::new();
        for orphan in orphans {
            self.delete_node(Rc::clone(&orphan.node))?;
            if orphan.node.state() == State::Deleted {
                deleted.push(orphan);
            }
        }
        self.unit_of_work.orphans_decided(deleted);
        Ok(())
    }

    /// One attempt at the flush: on failure, nothing of it is left in the
    /// database or in memory.
    fn flush_now(&self, rows: Rows) -> std::result::Result<(), Stop> {
        // No borrow check up front: a statement that meets a guard fails the
        // flush, which the database undoes and `revert` undoes in memory;
        // what runs after success borrows only what the flush already did.
        let work = self.unit_of_work.work();
        let _span = crate::sql::trace::flush(
            work.pending.len(),
            work.dirty.len(),
            work.deleted.len() + work.orphans.len(),
        );
        let conn = self.conn()?;
        let reach = self.cascade_reach(&work);
        // Checked before anything is sent, unless the plan reads the keys
        // of rows a cascade deletes on its way to loaded objects: then
        // inside the flush's transaction, which holds them still.
        let early = match reach.reads_rows() {
            false => Some(self.prepare(conn, &work, &reach)?),
            true => None,
        };
        let outer = !self.transaction.is_open();
        conn.control(if outer {
            conn.dialect().begin()
        } else {
            "SAVEPOINT orm_flush"
        })
        .map_err(|e| match e {
            // Name the table the flush was about to write.
            Error::Busy { .. } => Error::Busy {
                table: work.first_table().to_owned(),
            },
            other => other,
        })?;
        let (effects, at_savepoint) = match early {
            Some(prepared) => prepared,
            None => match self.prepare(conn, &work, &reach) {
                Ok(prepared) => prepared,
                Err(error) => {
                    self.abandon_flush(conn, outer)?;
                    return Err(error.into());
                }
            },
        };
        match unit_of_work::execute(conn, &work, rows) {
            Ok(written) => {
                if outer {
                    self.transaction.set_open(true);
                } else {
                    conn.control("RELEASE orm_flush")?;
                }
                self.transaction.keep_savepoint_values(at_savepoint);
                Ok(self.flushed(written, effects)?)
            }
            Err((error, written)) => {
                unit_of_work::revert(&written);
                self.abandon_flush(conn, outer)?;
                Err(error)
            }
        }
    }

    /// What the flush's deletes may reach through `ON DELETE`.
    fn cascade_reach(&self, work: &Work) -> cascade::Reach {
        let deleted: Vec<&'static str> = work.deletes().map(|node| node.table().name).collect();
        // The objects this flush inserts are loaded once it succeeds: the
        // database cascades to them too.
        cascade::Reach::of(&self.identity.borrow(), &work.pending, &deleted)
    }

    /// The flush's cascades in memory, and the values a rollback to the
    /// innermost savepoint would restore.
    fn prepare(
        &self,
        conn: &Conn,
        work: &Work,
        reach: &cascade::Reach,
    ) -> Result<(Vec<cascade::Effect>, Vec<transaction::Kept>)> {
        let effects = self.cascade_plan(conn, work, reach)?;
        let at_savepoint = self.values_at_savepoint(work, &effects)?;
        Ok((effects, at_savepoint))
    }

    /// The loaded objects the flush's deletes reach through `ON DELETE`.
    fn cascade_plan(
        &self,
        conn: &Conn,
        work: &Work,
        reach: &cascade::Reach,
    ) -> Result<Vec<cascade::Effect>> {
        let mut deleted = Vec::new();
        let mut parents = Vec::new();
        for node in work.deletes() {
            deleted.push((node.table().name, node.key_value()?));
            parents.push(Rc::clone(node));
        }
        if deleted.is_empty() {
            return Ok(Vec::new());
        }
        reach.plan(conn, &self.identity, deleted, &parents)
    }

    /// The values, as of the innermost savepoint, of the objects this flush
    /// may write (updates, deletes, cascades), for a rollback to it.
    fn values_at_savepoint(
        &self,
        work: &Work,
        effects: &[cascade::Effect],
    ) -> Result<Vec<transaction::Kept>> {
        let cascaded = effects.iter().map(|effect| match effect {
            cascade::Effect::Deleted(node) | cascade::Effect::SetNull(node, _) => node,
        });
        self.transaction
            .values_at_savepoint(work.dirty.iter().chain(work.deletes()).chain(cascaded))
    }

    /// After a successful flush: the objects now match their rows.
    fn flushed(&self, written: Vec<Written>, effects: Vec<cascade::Effect>) -> Result<()> {
        let done = self.unit_of_work.flushed();
        reserve_for_inserted(&written, &mut self.identity.borrow_mut());
        let mut released = Vec::new();
        for w in &written {
            match w {
                Written::Inserted { node, .. } => {
                    node.meta().set_state(State::Persistent);
                    let displaced = Rc::clone(node).register(&mut self.identity.borrow_mut())?;
                    // SQLite reused the key of a row deleted behind the
                    // session's back: the object that held it is stale.
                    if let Some(stale) = displaced {
                        stale.meta().set_state(State::Detached);
                        stale.meta().detach();
                        stale.meta().forget_changes();
                        released.push(stale);
                    }
                }
                Written::Updated { node, .. } => node.meta().flushed(),
                Written::Deleted { node } => {
                    released.extend(node.unregister(&mut self.identity.borrow_mut())?);
                    node.meta().flushed();
                }
            }
        }
        // A new object's collections are loaded.
        let inserted = written.iter().filter_map(|w| match w {
            Written::Inserted { node, .. } => Some(node),
            _ => None,
        });
        let count = inserted.clone().count();
        self.collection_owners
            .note_all(inserted, count, || self.held());
        // A child given its parent by key meets the parent object once both
        // are in the identity map (the parent may be one just inserted).
        for w in &written {
            if let Written::Inserted { node, .. } = w
                && node.table().columns.iter().any(|c| c.references.is_some())
            {
                node.each_foreign_key(|fk| fk.find_parent());
            }
        }
        let (cascaded, cascade_released) = cascade::apply(effects, &self.identity)?;
        self.transaction.log(written);
        self.transaction.log(cascaded);
        drop((done, released, cascade_released));
        Ok(())
    }

    /// After a failed flush: the database undoes it (the whole transaction
    /// when SQLite abandoned it itself).
    fn abandon_flush(&self, conn: &Conn, outer: bool) -> Result<()> {
        if !conn.in_transaction() {
            // SQLite abandoned the whole transaction itself (a full disk,
            // an I/O error). If earlier flushes were in it, they are gone
            // too, so the session rolls back as `rollback()` would;
            // otherwise only this flush was lost and its changes stay pending.
            if !outer {
                self.transaction.set_open(false);
                self.rollback()?;
            }
            return Ok(());
        }
        if outer {
            conn.control("ROLLBACK")
        } else {
            conn.control("ROLLBACK TO orm_flush")?;
            conn.control("RELEASE orm_flush")
        }
    }

    pub(super) fn commit(&self) -> Result<()> {
        if !self.transaction.is_open() {
            return Ok(());
        }
        let conn = self.conn()?;
        if let Err(error) = conn.control("COMMIT") {
            if !conn.in_transaction() {
                // The transaction is gone (SQLite rolled it back): so are
                // its changes, in memory as in the database.
                self.transaction.set_open(false);
                self.rollback()?;
            }
            return Err(error);
        }
        self.transaction.committed();
        drop(self.unit_of_work.take_discarded());
        Ok(())
    }

    /// Checks every borrow first, then rolls back the database, then
    /// restores memory: see [`Session::rollback`]. Ends every savepoint.
    pub(super) fn rollback(&self) -> Result<()> {
        self.check_rollback(Scope::Transaction)?;
        if self.transaction.is_open() {
            self.conn()?.control("ROLLBACK")?;
        }
        let undone = self.transaction.take();
        let discarded = self.unit_of_work.take_discarded();
        self.restore_memory(undone, discarded)
    }

    /// Brings memory back to the point a rollback went back to (the
    /// transaction's start, or a savepoint), once the database is there:
    /// objects written since are restored or leave the session, pending
    /// changes are discarded, objects read since are read again.
    /// `discarded`: new objects deleted before any flush, made new again.
    pub(super) fn restore_memory(
        &self,
        undone: Undone,
        discarded: Vec<Rc<dyn AnyNode>>,
    ) -> Result<()> {
        let Undone {
            written, read, to, ..
        } = &undone;
        let abandoned = self.unit_of_work.take();
        let released = transaction::undo(written, to, &self.identity)?;
        for node in to.deleted_kept() {
            transaction::restore(&node, to)?;
        }
        for node in &abandoned.dirty {
            node.meta().set_listed(false);
            // Objects inserted since already left the session.
            if node.state() != State::Transient {
                transaction::restore(node, to)?;
            }
        }
        for node in &abandoned.pending {
            node.meta().detach();
            node.meta().set_state(State::Transient);
        }
        for node in &abandoned.deleted {
            // One inserted since has already left the session.
            if node.state() == State::Deleted {
                node.meta().set_state(State::Persistent);
            }
        }
        let reread = self.reread_all(read);
        // New again, once every other object is restored: their collections
        // keep what still points at them.
        let undone_inserts = written.iter().filter_map(|w| match w {
            Written::Inserted { node, .. } => Some(node),
            _ => None,
        });
        let new_again: Vec<&Rc<dyn AnyNode>> = undone_inserts
            .chain(&abandoned.pending)
            .chain(&abandoned.taken_out)
            .chain(&discarded)
            .collect();
        for node in &new_again {
            node.each_collection(|field| field.keep_linked());
        }
        for node in &new_again {
            node.each_foreign_key(|fk| fk.rejoin_parent());
        }
        // Every loaded collection expires: those of the objects listed
        // as having some, and of the objects restored (one deleted since
        // comes back with the collections it had).
        let listed = self.collection_owners.take(self);
        let restored = written.iter().map(Written::node).chain(&abandoned.dirty);
        for node in listed.iter().chain(restored).filter(|n| self.holds(n)) {
            node.each_collection(|field| field.expire_after_rollback());
        }
        // A versioned row may have moved on since the object was loaded
        // (that is what a failed version check says): such an object is
        // read again on next use, not trusted with its old version.
        let changed = written.iter().filter_map(|w| match w {
            Written::Updated { node, .. } | Written::Deleted { node } => Some(node),
            Written::Inserted { .. } => None,
        });
        for node in changed.chain(&abandoned.dirty) {
            if node.table().version.is_some() && node.state() == State::Persistent {
                super::expire::expire_node(node);
            }
        }
        drop((undone, abandoned, discarded, released, listed));
        reread
    }

    /// Whether `node` is one of the session's objects in its identity map.
    fn holds(&self, node: &Rc<dyn AnyNode>) -> bool {
        node.state() == State::Persistent && node.meta().in_session(self)
    }

    /// What a rollback of `scope` will borrow, checked before anything
    /// changes.
    pub(super) fn check_rollback(&self, scope: Scope) -> Result<()> {
        let work = self.unit_of_work.work();
        self.transaction.check_restorable(scope, &work.dirty)?;
        let listed = self.collection_owners.listed(self);
        // New objects taken out again are made new again: their
        // collections keep what still points at them.
        let taken_out = self
            .unit_of_work
            .taken_out(matches!(scope, Scope::Transaction));
        for node in work.pending.iter().chain(&listed).chain(&taken_out) {
            node.check_readable()?;
        }
        Ok(())
    }

    /// Re-reads the objects whose values came from the rolled-back
    /// transaction. One that cannot be read is let go of (detached), so
    /// that no object claims values the database no longer holds.
    fn reread_all(&self, read: &[Rc<dyn AnyNode>]) -> Result<()> {
        let mut first_error = None;
        for node in read {
            if node.state() != State::Persistent || !node.meta().in_session(self) {
                continue;
            }
            let outcome = match self.conn() {
                Ok(conn) => conn.because_within(
                    || format!("reread of {}", row_name(&**node)),
                    || Rc::clone(node).reread(self),
                ),
                Err(error) => Err(error),
            };
            if !matches!(outcome, Ok(true)) {
                let released = node.unregister(&mut self.identity.borrow_mut());
                node.meta().set_state(State::Detached);
                node.meta().detach();
                drop(released);
                if let Err(error) = outcome {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Room in the identity map for the objects a flush inserted, a run of one
/// model at a time (the flush inserts a table's objects together), so that
/// registering them does not grow the map again and again.
fn reserve_for_inserted(written: &[Written], identity: &mut IdentityMap) {
    let mut rest = written;
    while let Some((first, after)) = rest.split_first() {
        let Written::Inserted { node, .. } = first else {
            rest = after;
            continue;
        };
        let table = node.table();
        // Same table, and the same model (a table's address is not unique
        // to it, and two models may share a table).
        let same = |t: &TableDef| {
            std::ptr::eq(t, table) || (t.module == table.module && t.model == table.model)
        };
        let run = rest
            .iter()
            .take_while(|w| matches!(w, Written::Inserted { node, .. } if same(node.table())))
            .count();
        node.reserve(identity, run);
        rest = &rest[run..];
    }
}
