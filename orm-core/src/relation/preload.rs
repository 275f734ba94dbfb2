//! Eager loading: one statement per relationship level, for any number of
//! parents, and the `Relation` constants that name what to preload.

use std::marker::PhantomData;
use std::rc::Rc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::path::{Hop, Path};
use super::{BelongsToDef, HasManyDef, ManyToManyDef};
use crate::backend::key_lists;
use crate::error::Result;
use crate::model::Model;
use crate::session::SessionInner;
use crate::sql::{Param, text};
use crate::state::{AnyNode, Handle, Node, downcast};
use crate::value::{ToValue, Value, ValueRef};

/// One level of eager loading, with its models erased.
pub(crate) trait PreloadStep {
    /// Loads the relationship for all `parents` in one statement and
    /// returns the objects loaded, for the next level.
    fn run(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>>;

    /// Why its statement runs: `preload of User.orders for 3 users`.
    fn cause(&self, parents: usize) -> String;
}

/// `preload of User.orders for 3 users`.
fn preload_cause(model: &str, field: &str, parents: usize, table: &str) -> String {
    match parents {
        1 => format!("preload of {model}.{field} for 1 row of {table}"),
        n => format!("preload of {model}.{field} for {n} {table}"),
    }
}

impl<P: Model, C: Model> PreloadStep for HasManyDef<P, C> {
    fn cause(&self, parents: usize) -> String {
        preload_cause(self.model, self.field, parents, P::TABLE.name)
    }

    fn run(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>> {
        let parents: Vec<Rc<Node<P>>> = parents
            .iter()
            .filter_map(|p| downcast::<P>(Rc::clone(p)))
            .collect();
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let children = self.load_children(session, &parents)?;
        self.fill_all(&parents, &children)?;
        Ok(children.all().iter().map(Handle::erased).collect())
    }
}

impl<C: Model, P: Model> PreloadStep for BelongsToDef<C, P> {
    fn cause(&self, children: usize) -> String {
        preload_cause(self.model, self.field, children, C::TABLE.name)
    }

    fn run(
        &self,
        session: &Rc<SessionInner>,
        children: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>> {
        let column = &C::TABLE.columns[self.column];
        let children: Vec<Rc<Node<C>>> = children
            .iter()
            .filter_map(|c| downcast::<C>(Rc::clone(c)))
            .collect();
        let mut wanted: Vec<Value> = Vec::new();
        let mut parents: HashMap<P::Key, Rc<Node<P>>> = HashMap::default();
        for child in &children {
            let Some(key) = (self.this)(&*child.borrow()?).key() else {
                continue;
            };
            if parents.contains_key(&key) {
                continue;
            }
            match session.identity().get::<P>(&key) {
                Some(node) => {
                    parents.insert(key, node);
                }
                None => wanted.push(Value::from(key.to_value())),
            }
        }
        let dialect = session.conn()?.dialect();
        for list in key_lists(&wanted, dialect) {
            let sql = text::select_keys(P::TABLE, list.form, dialect);
            session.select::<P>(
                &sql,
                &[Param::new(ValueRef::Text(&list.json), column.name)],
                |node| {
                    let key = node.key()?;
                    parents.insert(key, node);
                    Ok(())
                },
            )?;
        }
        for child in &children {
            let value = child.borrow()?;
            let field = (self.this)(&value);
            if let Some(parent) = field.key().and_then(|k| parents.get(&k)) {
                field.loaded_with(parent);
            }
        }
        Ok(parents
            .into_values()
            .map(|p| p as Rc<dyn AnyNode>)
            .collect())
    }
}

impl<P: Model, C: Model> PreloadStep for ManyToManyDef<P, C> {
    fn cause(&self, owners: usize) -> String {
        preload_cause(self.model, self.field, owners, P::TABLE.name)
    }

    fn run(
        &self,
        session: &Rc<SessionInner>,
        owners: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>> {
        let owners: Vec<Rc<Node<P>>> = owners
            .iter()
            .filter_map(|o| downcast::<P>(Rc::clone(o)))
            .collect();
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let linked = self.load_linked(session, &owners)?;
        self.fill_all(&owners, &linked)?;
        // The next level's objects, each once however many owners it is
        // linked to.
        let mut seen = HashSet::default();
        Ok(linked
            .all()
            .iter()
            .filter(|h| seen.insert(Rc::as_ptr(&h.node)))
            .map(Handle::erased)
            .collect())
    }
}

/// What a relationship holds for one object: at most one (a `BelongsTo`,
/// a `HasOne`), so queries test it with `has`.
pub enum ToOne {}

/// What a relationship holds for one object: any number (a `HasMany`, a
/// `ManyToMany`), so queries test it with `any`.
pub enum ToMany {}

/// A relationship, named in a query's `preload`, `join` or `any` / `has`:
/// `User::ORDERS` is a `Relation<User, Order, ToMany>`, `Order::USER` a
/// `Relation<Order, User, ToOne>`. Generated by `#[derive(Model)]`.
pub struct Relation<P: Model, C: Model, K> {
    step: &'static dyn PreloadStep,
    path: &'static dyn Path,
    _models: PhantomData<fn(P, K) -> C>,
}

impl<P: Model, C: Model, K> Clone for Relation<P, C, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Model, C: Model, K> Copy for Relation<P, C, K> {}

impl<P: Model, C: Model> Relation<P, C, ToMany> {
    #[doc(hidden)]
    pub const fn has_many(def: &'static HasManyDef<P, C>) -> Self {
        Relation {
            step: def,
            path: def,
            _models: PhantomData,
        }
    }

    #[doc(hidden)]
    pub const fn many_to_many(def: &'static ManyToManyDef<P, C>) -> Self {
        Relation {
            step: def,
            path: def,
            _models: PhantomData,
        }
    }
}

impl<P: Model, C: Model> Relation<P, C, ToOne> {
    #[doc(hidden)]
    pub const fn has_one(def: &'static HasManyDef<P, C>) -> Self {
        Relation {
            step: def,
            path: def,
            _models: PhantomData,
        }
    }

    #[doc(hidden)]
    pub const fn belongs_to(def: &'static BelongsToDef<P, C>) -> Self {
        Relation {
            step: def,
            path: def,
            _models: PhantomData,
        }
    }
}

impl<P: Model, C: Model, K> Relation<P, C, K> {
    /// Continues a preload one level deeper:
    /// `User::ORDERS.then(Order::ITEMS)` loads users' orders and their items.
    pub fn then<G: Model, K2>(self, next: Relation<C, G, K2>) -> Preload<P, G> {
        Preload::from(self).then(next)
    }

    /// The relationship's way through the tables, for joins and `EXISTS`.
    pub(crate) fn hops(&self) -> Vec<Hop> {
        self.path.hops()
    }
}

/// A chain of relationships to preload, from `P` down to `L`.
pub struct Preload<P: Model, L: Model> {
    pub(crate) steps: Vec<&'static dyn PreloadStep>,
    _models: PhantomData<fn(P) -> L>,
}

impl<P: Model, L: Model> Preload<P, L> {
    /// Continues the chain one level deeper.
    pub fn then<G: Model, K>(mut self, next: Relation<L, G, K>) -> Preload<P, G> {
        self.steps.push(next.step);
        Preload {
            steps: self.steps,
            _models: PhantomData,
        }
    }
}

impl<P: Model, C: Model, K> From<Relation<P, C, K>> for Preload<P, C> {
    fn from(relation: Relation<P, C, K>) -> Self {
        Preload {
            steps: vec![relation.step],
            _models: PhantomData,
        }
    }
}
