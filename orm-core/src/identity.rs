//! Identity map: one live object per (model, primary key) in a session.
//!
//! Does not load rows; `loading` asks it before querying and registers what
//! it loads. It owns its objects strongly: an object lives as long as its
//! session or a user's handle, and relationship fields only point weakly, so
//! the object graph has no reference cycles.

use std::any::{Any, TypeId};
use std::rc::Rc;

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap as HashMap;

use crate::error::Result;

use crate::model::Model;
use crate::schema::TableDef;
use crate::state::{AnyNode, Node};

/// The objects of one model, by key.
struct TableMap<T: Model> {
    rows: HashMap<T::Key, Rc<Node<T>>>,
}

/// What the identity map needs from a [`TableMap`] of any model.
trait AnyTableMap: Any {
    fn table(&self) -> &'static TableDef;
    fn nodes(&self) -> Vec<Rc<dyn AnyNode>>;
    fn len(&self) -> usize;
}

impl<T: Model> AnyTableMap for TableMap<T> {
    fn table(&self) -> &'static TableDef {
        T::TABLE
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
        self.tables
            .push((TypeId::of::<T>(), Box::new(TableMap::<T> { rows })));
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
        self.table_mut::<T>()?.rows.insert(key, node)
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
                Ok(Rc::clone(slot.insert(node)))
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
        self.table_mut::<T>()?.rows.remove(key)
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

    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.len()).sum()
    }

    /// Empties the map, handing its objects over so that they are dropped
    /// outside any borrow of it (a model's `Drop` may call the session).
    pub(crate) fn take(&mut self) -> IdentityMap {
        std::mem::take(self)
    }
}
