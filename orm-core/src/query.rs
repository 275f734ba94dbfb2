//! Queries: typed column handles, filter expressions, and the query builder
//! that turns them into one SELECT whose rows go through the identity map.
//!
//! Values are always bound parameters and identifiers always quoted, so no
//! value can change the statement. Does not cache results: the identity map
//! does that for objects.

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::relation::{Lazy, Preload, PreloadStep};
use crate::session::Session;
use crate::sql::{Param, quote, text};
use crate::state::{AnyNode, Handle};
use crate::value::RowExt;
use crate::value::{ToValue, Value};

/// A typed handle to one column of model `M`, holding values of type `V`.
/// `#[derive(Model)]` makes one per column: `User::EMAIL`.
///
/// Comparing with a value of another type does not compile:
/// `User::EMAIL.eq(5)` is rejected because `5` is not a `String`.
pub struct Column<M: Model, V> {
    name: &'static str,
    _types: PhantomData<fn(M) -> V>,
}

impl<M: Model, V> Clone for Column<M, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Model, V> Copy for Column<M, V> {}

impl<M: Model, V: ToValue> Column<M, V> {
    #[doc(hidden)]
    pub const fn new(name: &'static str) -> Self {
        Column {
            name,
            _types: PhantomData,
        }
    }

    /// The column's name in the database.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn compare(self, op: &str, value: impl Into<V>) -> Expr {
        Expr {
            sql: format!("{} {op} ?", quote(self.name)),
            params: vec![(Value::from(value.into().to_value()), self.name)],
        }
    }

    /// `column = value`
    pub fn eq(self, value: impl Into<V>) -> Expr {
        self.compare("=", value)
    }

    /// `column <> value`
    pub fn ne(self, value: impl Into<V>) -> Expr {
        self.compare("<>", value)
    }

    /// `column < value`
    pub fn lt(self, value: impl Into<V>) -> Expr {
        self.compare("<", value)
    }

    /// `column <= value`
    pub fn le(self, value: impl Into<V>) -> Expr {
        self.compare("<=", value)
    }

    /// `column > value`
    pub fn gt(self, value: impl Into<V>) -> Expr {
        self.compare(">", value)
    }

    /// `column >= value`
    pub fn ge(self, value: impl Into<V>) -> Expr {
        self.compare(">=", value)
    }

    /// `column LIKE pattern` (`%` any run, `_` one character).
    pub fn like(self, pattern: impl Into<String>) -> Expr {
        Expr {
            sql: format!("{} LIKE ?", quote(self.name)),
            params: vec![(Value::Text(pattern.into()), self.name)],
        }
    }

    /// `column IN (values...)`; an empty list matches nothing.
    pub fn in_<I>(self, values: I) -> Expr
    where
        I: IntoIterator,
        I::Item: Into<V>,
    {
        let params: Vec<(Value, &'static str)> = values
            .into_iter()
            .map(|v| (Value::from(v.into().to_value()), self.name))
            .collect();
        if params.is_empty() {
            return Expr {
                sql: "0".to_owned(),
                params,
            };
        }
        let marks = vec!["?"; params.len()].join(", ");
        Expr {
            sql: format!("{} IN ({marks})", quote(self.name)),
            params,
        }
    }

    /// `column IS NULL`
    pub fn is_null(self) -> Expr {
        Expr {
            sql: format!("{} IS NULL", quote(self.name)),
            params: Vec::new(),
        }
    }

    /// `column IS NOT NULL`
    pub fn is_not_null(self) -> Expr {
        Expr {
            sql: format!("{} IS NOT NULL", quote(self.name)),
            params: Vec::new(),
        }
    }

    /// Ascending order on this column.
    pub fn asc(self) -> OrderBy {
        OrderBy(format!("{} ASC", quote(self.name)))
    }

    /// Descending order on this column.
    pub fn desc(self) -> OrderBy {
        OrderBy(format!("{} DESC", quote(self.name)))
    }
}

/// A filter condition: SQL text with its bound values. Combine with
/// [`Expr::and`], [`Expr::or`] and `!`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    sql: String,
    params: Vec<(Value, &'static str)>,
}

impl Expr {
    /// Both conditions.
    pub fn and(self, other: Expr) -> Expr {
        self.join("AND", other)
    }

    /// Either condition.
    pub fn or(self, other: Expr) -> Expr {
        self.join("OR", other)
    }

    fn join(mut self, op: &str, other: Expr) -> Expr {
        self.sql = format!("({}) {op} ({})", self.sql, other.sql);
        self.params.extend(other.params);
        self
    }

    /// The SQL text, with `?` for each value.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(mut self) -> Expr {
        self.sql = format!("NOT ({})", self.sql);
        self
    }
}

/// An `ORDER BY` term, made by [`Column::asc`] or [`Column::desc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy(String);

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
pub struct Query<'s, T: Model> {
    session: &'s Session,
    filter: Option<Expr>,
    order: Vec<OrderBy>,
    limit: Option<i64>,
    offset: Option<i64>,
    preloads: Vec<Vec<&'static dyn PreloadStep>>,
    lazy: Option<Lazy>,
    populate: bool,
    _model: PhantomData<T>,
}

impl<'s, T: Model> Query<'s, T> {
    pub(crate) fn new(session: &'s Session) -> Self {
        Query {
            session,
            filter: None,
            order: Vec::new(),
            limit: None,
            offset: None,
            preloads: Vec::new(),
            lazy: None,
            populate: false,
            _model: PhantomData,
        }
    }

    /// Keeps the rows matching `condition` (and any earlier filter).
    pub fn filter(mut self, condition: Expr) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(previous) => previous.and(condition),
            None => condition,
        });
        self
    }

    /// Sorts by `order` (after any earlier order).
    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.order.push(order);
        self
    }

    /// Returns at most `n` rows.
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` rows.
    pub fn offset(mut self, n: i64) -> Self {
        self.offset = Some(n);
        self
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

    fn where_clause(&self, sql: &mut String, params: &mut Vec<(Value, &'static str)>) {
        if let Some(filter) = &self.filter {
            sql.push_str(" WHERE ");
            sql.push_str(&filter.sql);
            params.extend(filter.params.iter().cloned());
        }
    }

    fn select(&self) -> (String, Vec<(Value, &'static str)>) {
        let mut sql = text::select(T::TABLE);
        let mut params = Vec::new();
        self.where_clause(&mut sql, &mut params);
        if !self.order.is_empty() {
            let terms: Vec<&str> = self.order.iter().map(|o| o.0.as_str()).collect();
            sql.push_str(" ORDER BY ");
            sql.push_str(&terms.join(", "));
        }
        if self.limit.is_some() || self.offset.is_some() {
            sql.push_str(" LIMIT ?");
            params.push((Value::Integer(self.limit.unwrap_or(-1)), "LIMIT"));
        }
        if let Some(offset) = self.offset {
            sql.push_str(" OFFSET ?");
            params.push((Value::Integer(offset), "OFFSET"));
        }
        (sql, params)
    }

    /// Runs the query: every matching object, through the identity map
    /// (objects already loaded are returned as they are, unflushed changes
    /// kept), then the preloads.
    ///
    /// # Errors
    /// [`Error::Conversion`] when a row does not fit the model; errors of
    /// the autoflush.
    pub fn all(self) -> Result<Vec<Handle<T>>> {
        let inner = self.session.inner();
        inner.autoflush()?;
        let (sql, values) = self.select();
        let params: Vec<Param<'_>> = values
            .iter()
            .map(|(v, c)| Param::new(v.as_ref(), c))
            .collect();
        let mut found = Vec::new();
        inner.select_into::<T>(&sql, &params, self.populate, |node, _| {
            found.push(node);
            Ok(())
        })?;
        if let Some(lazy) = self.lazy {
            for node in &found {
                node.borrow()?
                    .for_each_relation(&mut |field| field.set_lazy(lazy));
            }
        }
        for chain in &self.preloads {
            let mut level: Vec<std::rc::Rc<dyn AnyNode>> = found
                .iter()
                .map(|n| n.clone() as std::rc::Rc<dyn AnyNode>)
                .collect();
            for step in chain {
                level = step.run(inner, &level)?;
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

    /// How many rows match (`SELECT count(*)`), ignoring limit and offset.
    ///
    /// # Errors
    /// Errors of the autoflush or the statement.
    pub fn count(self) -> Result<usize> {
        let inner = self.session.inner();
        inner.autoflush()?;
        let mut sql = text::count(T::TABLE);
        let mut values = Vec::new();
        self.where_clause(&mut sql, &mut values);
        let params: Vec<Param<'_>> = values
            .iter()
            .map(|(v, c)| Param::new(v.as_ref(), c))
            .collect();
        let mut count = 0usize;
        inner.conn()?.query(&sql, &params, T::TABLE.name, |row| {
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
