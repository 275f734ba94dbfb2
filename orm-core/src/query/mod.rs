//! Queries: typed columns and expressions, joins along relationships,
//! filters across them, projections and aggregates, built step by step
//! into one statement tree (`sql::tree`) that renders as SQL.
//!
//! [`Query`] returns objects through the identity map; its
//! [`select`](Query::select) returns values (tuples), never objects. Which
//! models a query reads is part of its type ([`scope`]): a column of a model
//! that is neither queried nor joined does not compile.
//!
//! Values are always bound parameters and identifiers always quoted, so no
//! value can change the statement. Does not cache results: the identity map
//! does that for objects.

mod bulk;
mod expr;
mod related;
pub mod scope;
mod select;

pub use bulk::{DeleteRows, UpdateRows};
pub use expr::{Column, Expr, Numeric, OrderBy, Scalar};
pub use select::{Select, SelectItem, Selection};

use std::marker::PhantomData;
use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::relation::{Lazy, Preload, PreloadStep, Relation};
use crate::session::Session;
use crate::sql::trace;
use crate::sql::tree::{self, ColumnNames, Join, Node};
use crate::state::{AnyNode, Handle};
use crate::value::RowExt;
use scope::{Contains, InScope, Inner, Outer};

/// `count(*)`: how many rows (or rows per group).
pub fn count_rows() -> Expr<(), i64> {
    Expr::new(Node::Call {
        func: "count",
        distinct: false,
        arg: None,
    })
}

/// A query over `T`'s table, built step by step and run by `all`, `first`,
/// `one` or `count`.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String, age: i64 }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<User>()?;
/// let session = db.session();
/// session.add(User::new("Ann", 31));
/// session.add(User::new("Bob", 17));
/// let adults = session
///     .query::<User>()
///     .filter(User::AGE.ge(18))
///     .order_by(User::NAME.asc())
///     .all()?;
/// assert_eq!(adults.len(), 1);
/// assert_eq!(session.query::<User>().count()?, 2);
/// # Ok(()) }
/// ```
pub struct Query<'s, T: Model, J = (Inner<T>, ())> {
    session: &'s Session,
    tree: tree::Select,
    preloads: Vec<Vec<&'static dyn PreloadStep>>,
    lazy: Option<Lazy>,
    populate: bool,
    /// A join along a to-many relationship repeats rows of `T`.
    repeats: bool,
    _models: PhantomData<fn() -> (T, J)>,
}

impl<'s, T: Model> Query<'s, T> {
    pub(crate) fn new(session: &'s Session) -> Self {
        Query {
            session,
            tree: tree::Select::from(T::TABLE.name),
            preloads: Vec::new(),
            lazy: None,
            populate: false,
            repeats: false,
            _models: PhantomData,
        }
    }
}

impl<'s, T: Model, J> Query<'s, T, J> {
    /// Keeps the rows matching `condition` (and any earlier filter). The
    /// condition may read the queried model and the joined ones.
    pub fn filter<S: InScope<J, I>, I>(mut self, condition: Expr<S, bool>) -> Self {
        self.tree.and_where(condition.node);
        self
    }

    /// Sorts by `order` (after any earlier order): `User::NAME.desc()`,
    /// or a column alone for ascending.
    pub fn order_by<S: InScope<J, I>, I>(mut self, order: impl Into<OrderBy<S>>) -> Self {
        self.tree.order.push(order.into().order);
        self
    }

    /// Returns at most `n` rows.
    pub fn limit(mut self, n: i64) -> Self {
        self.tree.limit = Some(n);
        self
    }

    /// Skips the first `n` rows.
    pub fn offset(mut self, n: i64) -> Self {
        self.tree.offset = Some(n);
        self
    }

    fn joined<J2>(
        mut self,
        hops: Vec<crate::relation::Hop>,
        left: bool,
        many: bool,
    ) -> Query<'s, T, J2> {
        for hop in hops {
            self.tree.joins.push(Join {
                left,
                table: hop.table,
                column: hop.column,
                other_table: hop.from_table,
                other_column: hop.from_column,
            });
        }
        Query {
            session: self.session,
            tree: self.tree,
            preloads: self.preloads,
            lazy: self.lazy,
            populate: self.populate,
            repeats: self.repeats || many,
            _models: PhantomData,
        }
    }

    /// Joins the target of `relation`, a relationship of the queried model
    /// or of one joined before (`JOIN ... ON` its foreign key; through the
    /// link table for a many-to-many), so that filters, ordering and
    /// `select` may read its columns. Only rows with a match stay.
    ///
    /// Objects come back once each, at their first row: a join along a
    /// to-many relationship repeats them in SQL, and `limit` and `offset`
    /// count those rows. To keep the objects that have some matching
    /// child, [`Relation::any`] needs no join and counts objects.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, name: String,
    /// #   #[orm(back_populates = "user")] orders: HasMany<Order> }
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "orders")]
    /// # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
    /// #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<(User, Order)>()?;
    /// let session = db.session();
    /// let ann = session.add(User::new("Ann"));
    /// session.add(Order::new(1500)).read()?.user.set(&ann)?;
    /// let orders = session
    ///     .query::<Order>()
    ///     .join(Order::USER)
    ///     .filter(User::NAME.eq("Ann"))
    ///     .order_by(User::NAME)
    ///     .all()?;
    /// assert_eq!(orders.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn join<P: Model, C: Model, K: Holds, I>(
        self,
        relation: Relation<P, C, K>,
    ) -> Query<'s, T, (Inner<C>, J)>
    where
        J: Contains<P, I>,
    {
        self.joined(relation.hops(), false, K::MANY)
    }

    /// Like [`join`](Query::join), but a `LEFT JOIN`: rows without a match
    /// stay, the joined model's columns NULL, so `select` reads them as
    /// `Option`.
    pub fn left_join<P: Model, C: Model, K: Holds, I>(
        self,
        relation: Relation<P, C, K>,
    ) -> Query<'s, T, (Outer<C>, J)>
    where
        J: Contains<P, I>,
    {
        self.joined(relation.hops(), true, K::MANY)
    }

    /// Reads values instead of objects: a column, an aggregate, or a tuple
    /// of them, from the queried and the joined models. Preloads and
    /// `lazy` do not apply to values. See [`Select`].
    pub fn select<X: Selection<J, I>, I>(self, items: X) -> Select<'s, J, X::Row> {
        let mut tree = self.tree;
        tree.columns.clear();
        items.nodes(&mut tree.columns);
        Select::new(self.session, tree)
    }

    /// Loads a relationship of every row found in one more statement per
    /// level: `.preload(User::ORDERS)`, or nested,
    /// `.preload(User::ORDERS.then(Order::ITEMS))`.
    pub fn preload<L: Model>(mut self, path: impl Into<Preload<T, L>>) -> Self {
        self.preloads.push(path.into().steps);
        self
    }

    /// Sets how the relationships of the objects this query returns load
    /// when read unloaded: `Lazy::Raise` makes any such read an error (what
    /// is preloaded still reads), so no SQL runs behind a field access.
    pub fn lazy(mut self, lazy: Lazy) -> Self {
        self.lazy = Some(lazy);
        self
    }

    /// Overwrites the objects already loaded that this query returns with
    /// the rows it reads, where they have no unflushed changes
    /// (SQLAlchemy's `populate_existing`); changed objects keep their
    /// changes. Without it, a loaded object is returned as it is.
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
    /// db.execute_batch("UPDATE users SET name = 'Anna'")?;
    /// session.query::<User>().all()?;
    /// assert_eq!(ann.read()?.name, "Ann"); // kept
    /// session.query::<User>().populate_existing().all()?;
    /// assert_eq!(ann.read()?.name, "Anna"); // overwritten
    /// # Ok(()) }
    /// ```
    pub fn populate_existing(mut self) -> Self {
        self.populate = true;
        self
    }

    /// The statement: `T`'s columns, the joins and clauses given.
    fn statement(&mut self) -> tree::Select {
        let mut tree = std::mem::take(&mut self.tree);
        let table = T::TABLE;
        tree.columns = vec![Node::Columns {
            table: table.name,
            names: ColumnNames(table.columns),
        }];
        tree
    }

    /// Runs the query: every matching object, through the identity map
    /// (objects already loaded are returned as they are, unflushed changes
    /// kept), then the preloads.
    ///
    /// # Errors
    /// [`Error::Conversion`] when a row does not fit the model; errors of
    /// the autoflush.
    pub fn all(mut self) -> Result<Vec<Handle<T>>> {
        let inner = Rc::clone(self.session.inner());
        let span = trace::query("query", T::TABLE.name);
        let found = inner.because(|| format!("query of {}", T::TABLE.name), || self.run())?;
        span.rows(found.len());
        Ok(found)
    }

    fn run(&mut self) -> Result<Vec<Handle<T>>> {
        let inner = self.session.inner();
        inner.autoflush()?;
        let text = inner.conn()?.query_text(&self.statement())?;
        let params = text.params();
        let mut found: Vec<Rc<crate::state::Node<T>>> = Vec::new();
        // Each object once, in the order first met, where a join repeats
        // rows: a set of those met, not a scan of them per row.
        let mut met: Option<HashSet<*const crate::state::Node<T>>> =
            self.repeats.then(HashSet::default);
        inner.select_into::<T>(text.sql(), &params, self.populate, |node, _| {
            if met.as_mut().is_none_or(|met| met.insert(Rc::as_ptr(&node))) {
                found.push(node);
            }
            Ok(())
        })?;
        inner.queried(T::TABLE.name);
        if let Some(lazy) = self.lazy {
            for node in &found {
                node.meta().set_lazy(lazy);
            }
        }
        for chain in &self.preloads {
            let mut level: Vec<Rc<dyn AnyNode>> = found
                .iter()
                .map(|n| Rc::clone(n) as Rc<dyn AnyNode>)
                .collect();
            for step in chain {
                let parents = level.len();
                level = inner.because(|| step.cause(parents), || step.run(inner, &level))?;
            }
        }
        Ok(found.into_iter().map(Handle::from_node).collect())
    }

    /// The first matching object, if any (adds `LIMIT 1`).
    ///
    /// # Errors
    /// As [`Query::all`].
    pub fn first(self) -> Result<Option<Handle<T>>> {
        Ok(self.limit(1).all()?.into_iter().next())
    }

    /// The one matching object.
    ///
    /// # Errors
    /// [`Error::NotFound`] when none matches, [`Error::NotOne`] when several
    /// do; otherwise as [`Query::all`].
    pub fn one(self) -> Result<Handle<T>> {
        let mut found = self.limit(2).all()?;
        match found.len() {
            0 => Err(Error::NotFound {
                table: T::TABLE.name.to_owned(),
                what: "matching the query".to_owned(),
            }),
            1 => found.pop().ok_or_else(|| Error::NotFound {
                table: T::TABLE.name.to_owned(),
                what: "matching the query".to_owned(),
            }),
            n => Err(Error::NotOne {
                table: T::TABLE.name.to_owned(),
                found: n,
            }),
        }
    }

    /// How many objects match (`SELECT count(*)`, or `count(DISTINCT`
    /// the key`)` after a to-many join), ignoring order, limit and offset.
    ///
    /// # Errors
    /// Errors of the autoflush or the statement.
    pub fn count(self) -> Result<usize> {
        let inner = Rc::clone(self.session.inner());
        let _span = trace::query("count", T::TABLE.name);
        inner.because(
            || format!("count of {}", T::TABLE.name),
            || self.count_now(),
        )
    }

    fn count_now(self) -> Result<usize> {
        let inner = self.session.inner();
        inner.autoflush()?;
        let mut tree = self.tree;
        tree.order.clear();
        tree.limit = None;
        tree.offset = None;
        let key = Node::Column {
            table: T::TABLE.name,
            name: T::TABLE.primary_key().name,
        };
        tree.columns = vec![Node::Call {
            func: "count",
            distinct: self.repeats,
            arg: self.repeats.then(|| Box::new(key)),
        }];
        let conn = inner.conn()?;
        let text = conn.query_text(&tree)?;
        let params = text.params();
        let mut count = 0usize;
        conn.query(text.sql(), &params, T::TABLE.name, |row| {
            let n: i64 = row.get(0)?;
            count = usize::try_from(n).map_err(|_| Error::OutOfRange {
                what: "a row count".to_owned(),
                value: n.to_string(),
                limit: "usize".to_owned(),
            })?;
            Ok(())
        })?;
        Ok(count)
    }
}

/// Whether a relationship kind holds many objects (so a join along it
/// repeats the rows of its owner).
pub trait Holds {
    #[doc(hidden)]
    const MANY: bool;
}

impl Holds for crate::relation::ToMany {
    const MANY: bool = true;
}

impl Holds for crate::relation::ToOne {
    const MANY: bool = false;
}
