//! Identity map: one live object per (model, primary key) in a session,
//! and, for cascades, the objects of a model by the parent keys their
//! foreign keys hold.
//!
//! Does not load rows; `loading` asks it before querying and registers what
//! it loads. It owns its objects strongly: an object lives as long as its
//! session or a user's handle, and relationship fields only point weakly, so
//! the object graph has no reference cycles.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::rc::{Rc, Weak};

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap as HashMap;

use crate::error::Result;

use crate::model::Model;
use crate::schema::{OnDelete, TableDef};
use crate::state::{AnyNode, Node};
use crate::value::{ColumnType, RowKey, Value};

/// The objects of one model, by key.
struct TableMap<T: Model> {
    rows: HashMap<T::Key, Rc<Node<T>>>,
    /// Made at the first cascade that asks; boxed, as most sessions never
    /// ask.
    by_parent: Option<Box<ByParent>>,
}

impl<T: Model> TableMap<T> {
    /// Notes an object that entered, for the index by parent key.
    #[inline]
    fn entered(&mut self, node: &Rc<Node<T>>) {
        if let Some(index) = &mut self.by_parent {
            index.entered.push(Rc::downgrade(node) as Weak<dyn AnyNode>);
        }
    }

    fn left(&mut self) {
        if let Some(index) = &mut self.by_parent {
            index.left += 1;
        }
    }
}

/// From how many objects a model's map frees them in address order (see
/// the `Drop` below). Fewer fit in any CPU's cache, where the order costs
/// nothing and the sort's vector would.
const FREED_IN_ADDRESS_ORDER_FROM: usize = 1024;

impl<T: Model> Drop for TableMap<T> {
    /// Frees a large map's objects in address order, about the order they
    /// were made in. The map's own order is its hashes', which for tens of
    /// thousands of objects walks memory at random: sorting the pointers
    /// first costs about 130 instructions an object and saves more time
    /// (BENCHMARKS.md, "Objects freed in address order").
    fn drop(&mut self) {
        if self.rows.len() >= FREED_IN_ADDRESS_ORDER_FROM {
            let mut nodes: Vec<Rc<Node<T>>> = self.rows.drain().map(|(_, node)| node).collect();
            nodes.sort_unstable_by_key(Rc::as_ptr);
            drop(nodes);
        }
    }
}

/// What the identity map needs from a [`TableMap`] of any model.
trait AnyTableMap: Any {
    fn table(&self) -> &'static TableDef;
    fn nodes(&self) -> Vec<Rc<dyn AnyNode>>;
    fn len(&self) -> usize;
    fn holds(&self, key: &Value) -> bool;
    fn pointing_at(
        &mut self,
        column: usize,
        keys: &mut dyn Iterator<Item = &RowKey>,
        out: &mut Vec<Rc<dyn AnyNode>>,
    );
}

impl<T: Model> AnyTableMap for TableMap<T> {
    fn table(&self) -> &'static TableDef {
        T::TABLE
    }

    fn holds(&self, key: &Value) -> bool {
        T::Key::from_value(key.as_ref()).is_ok_and(|key| self.rows.contains_key(&key))
    }

    fn pointing_at(
        &mut self,
        column: usize,
        keys: &mut dyn Iterator<Item = &RowKey>,
        out: &mut Vec<Rc<dyn AnyNode>>,
    ) {
        let index = match &mut self.by_parent {
            Some(index) if index.trusted(self.rows.len()) => index,
            _ => {
                let nodes = self.rows.values().map(|n| Rc::clone(n) as Rc<dyn AnyNode>);
                self.by_parent
                    .insert(Box::new(ByParent::build(T::TABLE, nodes)))
            }
        };
        index.pointing_at(column, keys, out);
    }

    fn nodes(&self) -> Vec<Rc<dyn AnyNode>> {
        self.rows
            .values()
            .map(|n| Rc::clone(n) as Rc<dyn AnyNode>)
            .collect()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }
}

thread_local! {
    /// How many times a foreign key of an object on this thread took a new
    /// value other than NULL, or could have (a write guard): an index by
    /// parent key made before a later count may miss an object, and is
    /// made again. Objects are not `Send`, so a count per thread sees every
    /// change to any object an index holds.
    static KEYS_WRITTEN: Cell<u64> = const { Cell::new(0) };
}

/// Notes that a foreign key may point somewhere new (see [`KEYS_WRITTEN`]).
#[inline]
pub(crate) fn note_key_written() {
    KEYS_WRITTEN.with(|count| count.set(count.get().wrapping_add(1)));
}

fn keys_written() -> u64 {
    KEYS_WRITTEN.with(Cell::get)
}

/// One model's objects by the parent key each foreign-key column with an
/// `ON DELETE` action holds: which loaded objects a cascade from deleted
/// rows reaches, found by a lookup per deleted key rather than a scan of
/// every object at every flush (deleting parents one by one, each flush
/// on its own).
///
/// It may name objects that point elsewhere since, or have left the map
/// (whoever asks checks each object's key and state again); it names every
/// object of the map that points at a key. An object enters with its keys
/// (noted in `entered`, read at the next ask; one being written stays
/// there, and is named at every ask until it can be read), and one whose key changes
/// afterwards counts in [`KEYS_WRITTEN`], which makes the index again. So
/// do many objects gone (`left`), whose entries it would otherwise keep.
struct ByParent {
    /// [`KEYS_WRITTEN`] when it was made.
    made_at: u64,
    /// Per column: the objects by the parent row they pointed at when read.
    columns: Vec<ColumnIndex>,
    /// Objects whose keys are not read yet: entered the map since, or
    /// being written when last asked.
    entered: Vec<Weak<dyn AnyNode>>,
    /// How many objects left the map since it was made.
    left: usize,
}

/// One foreign-key column's part of a [`ByParent`].
struct ColumnIndex {
    column: usize,
    /// The parent table's name.
    parent: &'static str,
    by_key: HashMap<RowKey, Vec<Weak<dyn AnyNode>>>,
}

impl ByParent {
    fn build(
        table: &'static TableDef,
        nodes: impl ExactSizeIterator<Item = Rc<dyn AnyNode>>,
    ) -> ByParent {
        let acting = |(column, c): (usize, &crate::schema::ColumnDef)| {
            let fk = c.references?;
            let acts = matches!(fk.on_delete, OnDelete::Cascade | OnDelete::SetNull);
            acts.then(|| ColumnIndex {
                column,
                parent: (fk.target)().name,
                by_key: HashMap::with_capacity_and_hasher(nodes.len(), Default::default()),
            })
        };
        let mut index = ByParent {
            made_at: keys_written(),
            columns: table
                .columns
                .iter()
                .enumerate()
                .filter_map(acting)
                .collect(),
            entered: Vec::new(),
            left: 0,
        };
        for node in nodes {
            if !index.add(&node) {
                index.entered.push(Rc::downgrade(&node));
            }
        }
        index
    }

    /// Whether it still names every object pointing at a key, and not too
    /// many gone: `live` objects are in the map.
    fn trusted(&self, live: usize) -> bool {
        self.made_at == keys_written() && self.left <= live
    }

    /// Reads the keys of `node` into the index; false if it is being
    /// written.
    fn add(&mut self, node: &Rc<dyn AnyNode>) -> bool {
        let Ok(value) = node.value() else {
            return false;
        };
        for index in &mut self.columns {
            let key = Value::from(value.column(index.column).as_ref());
            if key != Value::Null {
                let row = RowKey(index.parent, key);
                index
                    .by_key
                    .entry(row)
                    .or_default()
                    .push(Rc::downgrade(node));
            }
        }
        true
    }

    /// Adds to `out` the live objects whose `column` held one of `keys`,
    /// and those whose keys cannot be read now.
    fn pointing_at(
        &mut self,
        column: usize,
        keys: &mut dyn Iterator<Item = &RowKey>,
        out: &mut Vec<Rc<dyn AnyNode>>,
    ) {
        let mut unread = Vec::new();
        for node in std::mem::take(&mut self.entered) {
            let Some(node) = node.upgrade() else { continue };
            if !self.add(&node) {
                unread.push(Rc::downgrade(&node));
                out.push(node);
            }
        }
        self.entered = unread;
        let Some(index) = self.columns.iter().find(|c| c.column == column) else {
            return;
        };
        for key in keys {
            let found = index.by_key.get(key).into_iter().flatten();
            out.extend(found.filter_map(Weak::upgrade));
        }
    }
}

/// The identity map of one session.
#[derive(Default)]
pub(crate) struct IdentityMap {
    /// One map per model, in the order the session first met them. A
    /// session holds objects of a handful of models, and every row loaded
    /// and object registered looks its model up: a scan of a few `TypeId`s
    /// costs less than hashing one.
    tables: Vec<(TypeId, Box<dyn AnyTableMap>)>,
}

impl IdentityMap {
    fn table<T: Model>(&self) -> Option<&TableMap<T>> {
        let id = TypeId::of::<T>();
        let (_, table) = self.tables.iter().find(|(t, _)| *t == id)?;
        let table: &dyn Any = table.as_ref();
        table.downcast_ref::<TableMap<T>>()
    }

    #[inline]
    fn table_mut<T: Model>(&mut self) -> Option<&mut TableMap<T>> {
        let id = TypeId::of::<T>();
        let at = match self.tables.iter().position(|(t, _)| *t == id) {
            Some(at) => at,
            None => self.add_table::<T>(),
        };
        let table: &mut dyn Any = self.tables.get_mut(at)?.1.as_mut();
        table.downcast_mut::<TableMap<T>>()
    }

    /// An empty map for the first object of `T`; returns its position.
    #[cold]
    fn add_table<T: Model>(&mut self) -> usize {
        let rows = HashMap::default();
        let table = TableMap::<T> {
            rows,
            by_parent: None,
        };
        self.tables.push((TypeId::of::<T>(), Box::new(table)));
        self.tables.len() - 1
    }

    pub(crate) fn get<T: Model>(&self, key: &T::Key) -> Option<Rc<Node<T>>> {
        self.table::<T>()?.rows.get(key).cloned()
    }

    /// Registers `node` under `key`; returns the object that held the key
    /// before, for the caller to drop outside any borrow of the map.
    pub(crate) fn insert<T: Model>(
        &mut self,
        key: T::Key,
        node: Rc<Node<T>>,
    ) -> Option<Rc<Node<T>>> {
        let table = self.table_mut::<T>()?;
        table.entered(&node);
        let before = table.rows.insert(key, node);
        if before.is_some() {
            table.left();
        }
        before
    }

    /// The object with `key`, or the one `make` builds (given the key),
    /// registered under it.
    pub(crate) fn get_or_try_insert<T: Model>(
        &mut self,
        key: T::Key,
        make: impl FnOnce(&T::Key) -> Result<Rc<Node<T>>>,
    ) -> Result<Rc<Node<T>>> {
        let Some(table) = self.table_mut::<T>() else {
            return make(&key);
        };
        match table.rows.entry(key) {
            Entry::Occupied(found) => Ok(Rc::clone(found.get())),
            Entry::Vacant(slot) => {
                let node = make(slot.key())?;
                let node = Rc::clone(slot.insert(node));
                table.entered(&node);
                Ok(node)
            }
        }
    }

    /// Makes room for `additional` more objects of `T` at once (a flush
    /// registering the objects it inserted), instead of growing as they come.
    pub(crate) fn reserve<T: Model>(&mut self, additional: usize) {
        if let Some(table) = self.table_mut::<T>() {
            table.rows.reserve(additional);
        }
    }

    pub(crate) fn remove<T: Model>(&mut self, key: &T::Key) -> Option<Rc<Node<T>>> {
        let table = self.table_mut::<T>()?;
        let removed = table.rows.remove(key);
        if removed.is_some() {
            table.left();
        }
        removed
    }

    /// Every object of `T` the map holds.
    pub(crate) fn all<T: Model>(&self) -> Vec<Rc<Node<T>>> {
        self.table::<T>()
            .map(|t| t.rows.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object in the map, of every model.
    pub(crate) fn nodes(&self) -> Vec<Rc<dyn AnyNode>> {
        self.tables.iter().flat_map(|(_, t)| t.nodes()).collect()
    }

    /// The tables of the models it holds objects of (none of a model
    /// whose objects all left).
    pub(crate) fn tables(&self) -> impl Iterator<Item = &'static TableDef> + '_ {
        let held = self.tables.iter().filter(|(_, t)| t.len() > 0);
        held.map(|(_, t)| t.table())
    }

    /// Every object of the models whose table `wanted` picks.
    pub(crate) fn nodes_of(&self, wanted: impl Fn(&TableDef) -> bool) -> Vec<Rc<dyn AnyNode>> {
        let picked = self.tables.iter().filter(|(_, t)| wanted(t.table()));
        picked.flat_map(|(_, t)| t.nodes()).collect()
    }

    /// Whether it holds an object of `table` with this key.
    pub(crate) fn holds(&self, table: &TableDef, key: &Value) -> bool {
        let mut tables = self.tables.iter().map(|(_, t)| t);
        tables.any(|t| t.table().name == table.name && t.holds(key))
    }

    /// Adds to `out` the objects of `table` whose foreign key in `column`
    /// (one with an `ON DELETE` action) holds one of `keys`, and perhaps
    /// some that no longer do or have left the map (the caller checks
    /// again), with those being written, whose keys cannot be read now;
    /// an object found by two keys is added twice.
    pub(crate) fn pointing_at<'k>(
        &mut self,
        table: &TableDef,
        column: usize,
        keys: impl Iterator<Item = &'k RowKey>,
        out: &mut Vec<Rc<dyn AnyNode>>,
    ) {
        let found = self
            .tables
            .iter_mut()
            .find(|(_, t)| t.table().name == table.name);
        if let Some((_, map)) = found {
            map.pointing_at(column, &mut keys.into_iter(), out);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.len()).sum()
    }

    /// Empties the map, handing its objects over so that they are dropped
    /// outside any borrow of it (a model's `Drop` may call the session).
    pub(crate) fn take(&mut self) -> IdentityMap {
        std::mem::take(self)
    }
}
