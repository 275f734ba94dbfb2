//! Cascades in memory: what the database does to the rows that point at a
//! deleted row (`ON DELETE CASCADE`, `SET NULL`), done to the loaded
//! objects too, so that memory agrees with the database after a flush.
//! (Delete-orphan is decided by the unit of work, which owns the orphans.)
//!
//! Planned before the flush writes, from the keys of the objects it
//! deletes, so a guard the user holds on an affected object fails the
//! flush before anything is written; applied after it succeeded. Where a
//! cascade passes rows that are not loaded on its way to loaded objects
//! (a deleted blog, its posts not loaded, one of their comments loaded),
//! the plan reads those rows' keys: one `SELECT` per table and level,
//! none where the loaded collections already hold every child, and none
//! at all when no loaded object lies below.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use crate::backend::key_lists;
use crate::error::Result;
use crate::identity::IdentityMap;
use crate::loading::key_in_first_column;
use crate::schema::{OnDelete, TableDef};
use crate::sql::{Conn, Param, text};
use crate::state::{AnyNode, State, address};
use crate::transaction::Written;
use crate::value::{RowKey, Value, ValueRef};

/// What a flush's deletes do to one loaded object.
pub(crate) enum Effect {
    /// Its row is deleted with its parent's.
    Deleted(Rc<dyn AnyNode>),
    /// These foreign-key columns become NULL.
    SetNull(Rc<dyn AnyNode>, Vec<usize>),
}

/// The tables among `tables` whose rows a delete from `deleted` reaches
/// through `ON DELETE CASCADE` or `SET NULL`, level after level (a child
/// deleted by cascade deletes its own children): only their objects need
/// planning, and where there are none, a flush's deletes look at no
/// loaded object (deleting objects one by one, each flush on its own, then
/// costs each flush its deletes, not the session's size).
fn reached(
    tables: &[&'static TableDef],
    deleted: impl Iterator<Item = &'static str>,
) -> HashSet<&'static str> {
    let mut deleting: HashSet<&'static str> = deleted.collect();
    let mut reached = HashSet::default();
    loop {
        let before = deleting.len();
        for table in tables {
            for fk in table.columns.iter().filter_map(|c| c.references) {
                if !deleting.contains((fk.target)().name) {
                    continue;
                }
                match fk.on_delete {
                    OnDelete::Cascade => {
                        reached.insert(table.name);
                        deleting.insert(table.name);
                    }
                    OnDelete::SetNull => {
                        reached.insert(table.name);
                    }
                    OnDelete::NoAction | OnDelete::Restrict => {}
                }
            }
        }
        // A handful of tables: until no cascade adds one.
        if deleting.len() == before {
            return reached;
        }
    }
}

/// The tables of the loaded objects and of the objects `new`, with the
/// tables their foreign keys point at, and theirs, up to the top: a
/// cascade reaches a loaded object through its parents' tables, whether
/// any of their rows is loaded or not.
fn tables_above(identity: &IdentityMap, new: &[Rc<dyn AnyNode>]) -> Vec<&'static TableDef> {
    let mut tables: Vec<&'static TableDef> = identity.tables().collect();
    for node in new {
        if !tables.iter().any(|t| t.name == node.table().name) {
            tables.push(node.table());
        }
    }
    let mut i = 0;
    while let Some(table) = tables.get(i) {
        for fk in table.columns.iter().filter_map(|c| c.references) {
            let target = (fk.target)();
            if !tables.iter().any(|t| t.name == target.name) {
                tables.push(target);
            }
        }
        i += 1;
    }
    tables
}

/// A foreign key through which a cascade deletes rows whose own children
/// (or theirs) are loaded: the keys of the rows it deletes are needed,
/// loaded or not, and are read where the deleted parents' collections do
/// not hold them all.
struct Through {
    /// The table of the rows the cascade deletes.
    table: &'static TableDef,
    /// Its foreign-key column, `ON DELETE CASCADE`.
    column: usize,
}

/// The tables whose objects deleting rows of some tables may change, and
/// the foreign keys through which it may reach them past rows that are
/// not loaded; for [`Reach::plan`].
pub(crate) struct Reach {
    /// The tables reached.
    tables: Vec<&'static TableDef>,
    /// The objects of those tables the same flush inserts.
    new: Vec<Rc<dyn AnyNode>>,
    /// Empty unless a cascade can pass a table to reach loaded objects.
    through: Vec<Through>,
}

impl Reach {
    /// What deleting rows of `deleted` may reach: the objects loaded in
    /// `identity`, and those of `new` (inserted by the same flush, loaded
    /// once it succeeds), whose tables [`reached`] finds.
    pub(crate) fn of(
        identity: &IdentityMap,
        new: &[Rc<dyn AnyNode>],
        deleted: &[&'static str],
    ) -> Reach {
        if deleted.is_empty() {
            return Reach::nothing();
        }
        let above = tables_above(identity, new);
        let reached = reached(&above, deleted.iter().copied());
        if reached.is_empty() {
            return Reach::nothing();
        }
        let new: Vec<_> = new
            .iter()
            .filter(|n| reached.contains(n.table().name))
            .cloned()
            .collect();
        let mut with_objects: HashSet<&'static str> = identity.tables().map(|t| t.name).collect();
        with_objects.extend(new.iter().map(|n| n.table().name));
        with_objects.retain(|t| reached.contains(t));
        let through = through(&above, &reached, deleted, &with_objects);
        let tables = above
            .into_iter()
            .filter(|t| reached.contains(t.name))
            .collect();
        Reach {
            tables,
            new,
            through,
        }
    }

    fn nothing() -> Reach {
        Reach {
            tables: Vec::new(),
            new: Vec::new(),
            through: Vec::new(),
        }
    }

    /// Whether [`Reach::plan`] reads rows (the keys of rows a cascade
    /// deletes on its way to loaded objects).
    pub(crate) fn reads_rows(&self) -> bool {
        !self.through.is_empty()
    }

    /// The effects of deleting `deleted` (table, key), whose objects
    /// `parents` are where loaded, on the objects reached, level after
    /// level (a cascade-deleted child's own children too). Where a cascade
    /// passes through rows that are not loaded, their keys are read on
    /// `conn`, one statement per table and level.
    pub(crate) fn plan(
        &self,
        conn: &Conn,
        identity: &RefCell<IdentityMap>,
        deleted: Vec<(&'static str, Value)>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Effect>> {
        let mut effects = Vec::new();
        if self.tables.is_empty() {
            return Ok(effects);
        }
        let mut gone: HashSet<*const ()> = HashSet::default();
        let new_keys = self.new_keys_passed();
        let mut parents = parents.to_vec();
        // A hash lookup per foreign key of each loaded object, not a scan of
        // every deleted row.
        let mut deleted: HashSet<RowKey> = deleted.into_iter().map(|(t, k)| RowKey(t, k)).collect();
        // Every row met so far: rows that point at each other (or reach
        // one another by two ways) are read once, and the walk ends.
        let mut met: HashSet<RowKey> = deleted.clone();
        while !deleted.is_empty() {
            let mut next = HashSet::default();
            let mut next_parents = Vec::new();
            for node in self.candidates(identity, &deleted) {
                let at = address(&node);
                let loaded = matches!(node.state(), State::Persistent | State::Pending);
                if !loaded || gone.contains(&at) {
                    continue;
                }
                match effect_on(&node, &deleted)? {
                    Some(Effect::Deleted(node)) => {
                        gone.insert(at);
                        next.insert(RowKey(node.table().name, node.key_value()?));
                        next_parents.push(Rc::clone(&node));
                        effects.push(Effect::Deleted(node));
                    }
                    Some(effect) => effects.push(effect),
                    None => {}
                }
            }
            for through in &self.through {
                for key in through.rows_deleted(conn, &deleted, &parents)? {
                    // A loaded object's own values say where it points.
                    let loaded = identity.borrow().holds(through.table, &key);
                    let key = RowKey(through.table.name, key);
                    if !loaded && !new_keys.contains(&key) && met.insert(key.clone()) {
                        next.insert(key);
                    }
                }
            }
            deleted = next;
            parents = next_parents;
        }
        Ok(effects)
    }

    /// The objects that may point at the `deleted` rows, each once: the
    /// loaded objects of each table reached whose foreign keys with an
    /// `ON DELETE` action point at one of them (found in the identity
    /// map's index by parent key), and the objects of the same flush. (Not
    /// the deleted parents' loaded collections: a collection misses a row
    /// another session inserted since it loaded, which the database
    /// deletes all the same.) A few may no longer point there: the caller
    /// reads each object's keys again.
    fn candidates(
        &self,
        identity: &RefCell<IdentityMap>,
        deleted: &HashSet<RowKey>,
    ) -> Vec<Rc<dyn AnyNode>> {
        let mut found = Vec::new();
        for table in &self.tables {
            let acting = acting_columns(table, deleted);
            for &(column, parent) in &acting {
                let keys = deleted.iter().filter(|k| k.0 == parent);
                identity
                    .borrow_mut()
                    .pointing_at(table, column, keys, &mut found);
            }
            if !acting.is_empty() {
                let new = self.new.iter().filter(|n| n.table().name == table.name);
                found.extend(new.cloned());
            }
        }
        let mut seen: HashSet<*const ()> = HashSet::default();
        found.retain(|node| seen.insert(address(node)));
        found
    }

    /// The keys of the objects of the same flush in the tables a cascade
    /// passes: loaded once it succeeds, their own values say where they
    /// point.
    fn new_keys_passed(&self) -> HashSet<RowKey> {
        let passed = |t: &TableDef| self.through.iter().any(|p| p.table.name == t.name);
        let new = self.new.iter().filter(|n| passed(n.table()));
        new.filter_map(|n| Some(RowKey(n.table().name, n.key_value().ok()?)))
            .collect()
    }
}

/// The foreign-key columns of `table` whose `ON DELETE` changes its rows
/// and that point at a table with rows in `deleted`, each with that
/// table's name.
fn acting_columns(table: &TableDef, deleted: &HashSet<RowKey>) -> Vec<(usize, &'static str)> {
    let mut acting = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        let Some(fk) = column.references else {
            continue;
        };
        let parent = (fk.target)().name;
        let acts = matches!(fk.on_delete, OnDelete::Cascade | OnDelete::SetNull);
        if acts && deleted.iter().any(|k| k.0 == parent) {
            acting.push((i, parent));
        }
    }
    acting
}

/// The `ON DELETE CASCADE` foreign keys of `tables` that `reached` can
/// delete through and below which lies one of the tables `with_objects`.
fn through(
    tables: &[&'static TableDef],
    reached: &HashSet<&'static str>,
    deleted: &[&'static str],
    with_objects: &HashSet<&'static str>,
) -> Vec<Through> {
    let mut through = Vec::new();
    for table in tables.iter().filter(|t| reached.contains(t.name)) {
        // Whether deleting its rows reaches a loaded object.
        let below = self::reached(tables, std::iter::once(table.name));
        if !below.iter().any(|t| with_objects.contains(t)) {
            continue;
        }
        for (column, c) in table.columns.iter().enumerate() {
            let Some(fk) = c.references else { continue };
            let parent = (fk.target)().name;
            let deleting = deleted.contains(&parent) || reached.contains(parent);
            if fk.on_delete == OnDelete::Cascade && deleting {
                through.push(Through { table, column });
            }
        }
    }
    through
}

impl Through {
    /// The keys of the rows this foreign key makes the database delete
    /// with the `deleted` rows: read where a deleted parent's collection
    /// of them is not loaded (none when every one is).
    fn rows_deleted(
        &self,
        conn: &Conn,
        deleted: &HashSet<RowKey>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Value>> {
        let Some(fk) = self.table.columns[self.column].references else {
            return Ok(Vec::new());
        };
        let parent = (fk.target)();
        let mut complete: HashSet<RowKey> = HashSet::default();
        for node in parents.iter().filter(|n| n.table().name == parent.name) {
            let mut holds = false;
            node.each_collection(|c| holds |= c.holds_every_child(self.table, self.column));
            if holds {
                complete.insert(RowKey(parent.name, node.key_value()?));
            }
        }
        let keys: Vec<Value> = deleted
            .iter()
            .filter(|k| k.0 == parent.name && !complete.contains(k))
            .map(|k| k.1.clone())
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.read(conn, &keys)
    }

    /// `SELECT <key> FROM <table> WHERE <column> IN (<keys>)`, one
    /// statement per key list.
    fn read(&self, conn: &Conn, keys: &[Value]) -> Result<Vec<Value>> {
        let table = self.table;
        let column = table.columns[self.column].name;
        let mut found = Vec::new();
        for list in key_lists(keys, conn.dialect()) {
            let sql = text::keys_pointing_at(table, self.column, list.form, conn.dialect());
            let param = [Param::new(ValueRef::Text(&list.json), column)];
            conn.because_within(
                || format!("keys of the {} rows a cascade deletes", table.name),
                || {
                    conn.query(sql.as_str(), &param, table.name, |row| {
                        found.push(key_in_first_column(table, row)?);
                        Ok(())
                    })
                },
            )?;
        }
        Ok(found)
    }
}

/// What deleting `deleted` does to `node`, by the `ON DELETE` of each of
/// its foreign keys that points at one of them.
fn effect_on(node: &Rc<dyn AnyNode>, deleted: &HashSet<RowKey>) -> Result<Option<Effect>> {
    let value = node.value()?;
    let mut set_null = Vec::new();
    for (i, column) in node.table().columns.iter().enumerate() {
        let Some(fk) = column.references else {
            continue;
        };
        let key = Value::from(value.column(i).as_ref());
        if key == Value::Null || !deleted.contains(&RowKey((fk.target)().name, key)) {
            continue;
        }
        match fk.on_delete {
            OnDelete::Cascade => return Ok(Some(Effect::Deleted(Rc::clone(node)))),
            OnDelete::SetNull => set_null.push(i),
            OnDelete::NoAction | OnDelete::Restrict => {}
        }
    }
    Ok((!set_null.is_empty()).then(|| Effect::SetNull(Rc::clone(node), set_null)))
}

/// What [`apply`] changed, and the objects it let go of.
pub(crate) type Applied = (Vec<Written>, Vec<Rc<dyn AnyNode>>);

/// Applies planned effects after the flush succeeded. Returns what changed,
/// for the transaction's log (rollback undoes it like the rest), and the
/// objects taken out of the identity map, to drop outside it.
pub(crate) fn apply(
    effects: Vec<Effect>,
    identity: &std::cell::RefCell<IdentityMap>,
) -> Result<Applied> {
    let mut written = Vec::new();
    let mut released = Vec::new();
    for effect in effects {
        match effect {
            Effect::Deleted(node) => {
                node.meta().set_state(State::Deleted);
                released.extend(node.unregister(&mut identity.borrow_mut())?);
                written.push(Written::Deleted { node });
            }
            Effect::SetNull(node, columns) => {
                let current = node.columns()?;
                node.meta().keep_before_transaction(|| current);
                let table = node.table();
                for &i in &columns {
                    node.meta().patch_snapshot(i, Value::Null);
                    let field = table.columns[i].field;
                    node.each_foreign_key(|fk| fk.clear_key_of(field));
                }
                written.push(Written::Updated {
                    node,
                    old_version: None,
                });
            }
        }
    }
    Ok((written, released))
}
