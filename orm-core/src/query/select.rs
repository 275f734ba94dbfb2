//! Projections: a query's `select((User::NAME, Order::TOTAL.sum()))` reads
//! columns and aggregates as values (tuples, or any type made `From` the
//! tuple), not objects: no identity map, no change tracking.
//!
//! What each column reads as is worked out from the query's models: a
//! column of a left-joined model reads as `Option`, an aggregate as its
//! own type (`sum` is `Option`, SQL's sum of no rows being NULL).

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::from_row::FromRow;
use crate::model::Model;
use crate::session::Session;
use crate::sql::tree::{self, Node};
use crate::value::ColumnType;

use super::expr::{Column, Expr, OrderBy, Scalar};
use super::scope::{Contains, InScope, JoinKind};

/// One item of a projection, read as `Self::Value` in a query over the
/// models `J` (`I`: where its models are in `J`, inferred).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be selected in this query",
    note = "select columns and aggregates of the query's own and joined models"
)]
pub trait SelectItem<J, I> {
    /// The Rust type the item reads as.
    type Value: ColumnType;
    #[doc(hidden)]
    fn node(self) -> Node;
}

impl<J, I, M, T> SelectItem<J, I> for Column<M, T>
where
    J: Contains<M, I>,
    M: Model,
    T: ColumnType,
{
    type Value = <J::Join as JoinKind>::Read<T>;
    fn node(self) -> Node {
        Column::node(self)
    }
}

impl<J, I, S, V> SelectItem<J, I> for Expr<S, V>
where
    S: InScope<J, I>,
    V: ColumnType,
{
    type Value = V;
    fn node(self) -> Node {
        self.node
    }
}

/// A projection: one [`SelectItem`] or a tuple of up to twelve, read as
/// `Self::Row`.
pub trait Selection<J, I> {
    /// The Rust type one row reads as.
    type Row: FromRow;
    #[doc(hidden)]
    fn nodes(self, out: &mut Vec<Node>);
}

macro_rules! selections {
    ($(($($t:ident $i:ident),+)),* $(,)?) => {$(
        impl<J, $($t: SelectItem<J, $i>, $i,)+> Selection<J, ($($i,)+)> for ($($t,)+) {
            type Row = ($($t::Value,)+);
            #[allow(non_snake_case)]
            fn nodes(self, out: &mut Vec<Node>) {
                let ($($t,)+) = self;
                $(out.push($t.node());)+
            }
        }
    )*};
}

selections! {
    (A IA),
    (A IA, B IB),
    (A IA, B IB, C IC),
    (A IA, B IB, C IC, D ID),
    (A IA, B IB, C IC, D ID, E IE),
    (A IA, B IB, C IC, D ID, E IE, F IF),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG, H IH),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG, H IH, K IK),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG, H IH, K IK, L IL),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG, H IH, K IK, L IL, N IN),
    (A IA, B IB, C IC, D ID, E IE, F IF, G IG, H IH, K IK, L IL, N IN, O IO),
}

/// A single item selects as itself, not a one-tuple.
pub struct Single<I>(PhantomData<I>);

impl<J, I, X: SelectItem<J, I>> Selection<J, Single<I>> for X {
    type Row = X::Value;
    fn nodes(self, out: &mut Vec<Node>) {
        out.push(self.node());
    }
}

/// A query of values over the models `J`, each row read as `R`. Made by
/// [`Query::select`](super::Query::select); add `group_by`, `having`,
/// `order_by`, ... and run it with `all`, `first` or `one`.
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
/// for cents in [500, 1500, 4000] {
///     session.add(Order::new(cents)).read()?.user.set(&ann)?;
/// }
/// let totals: Vec<(String, Option<i64>)> = session
///     .query::<User>()
///     .join(User::ORDERS)
///     .filter(Order::TOTAL_CENTS.gt(1000))
///     .select((User::NAME, Order::TOTAL_CENTS.sum()))
///     .group_by(User::NAME)
///     .having(Order::TOTAL_CENTS.sum().gt(5000))
///     .all()?;
/// assert_eq!(totals, [("Ann".to_owned(), Some(5500))]);
/// # Ok(()) }
/// ```
pub struct Select<'s, J, R> {
    session: &'s Session,
    tree: tree::Select,
    _types: PhantomData<fn() -> (J, R)>,
}

impl<'s, J, R: FromRow> Select<'s, J, R> {
    pub(crate) fn new(session: &'s Session, tree: tree::Select) -> Self {
        Select {
            session,
            tree,
            _types: PhantomData,
        }
    }

    pub(crate) fn into_tree(self) -> tree::Select {
        self.tree
    }

    /// Keeps the rows matching `condition` (and any earlier filter).
    pub fn filter<S: InScope<J, I>, I>(mut self, condition: Expr<S, bool>) -> Self {
        self.tree.and_where(condition.node);
        self
    }

    /// Groups the rows by a column or expression (or a tuple of them), for
    /// the aggregates of the projection.
    pub fn group_by<G: Selection<J, I>, I>(mut self, terms: G) -> Self {
        terms.nodes(&mut self.tree.group_by);
        self
    }

    /// Keeps the groups matching `condition` (and any earlier `having`).
    pub fn having<S: InScope<J, I>, I>(mut self, condition: Expr<S, bool>) -> Self {
        tree::and(&mut self.tree.having, condition.node);
        self
    }

    /// Sorts by `order` (after any earlier order).
    pub fn order_by<S: InScope<J, I>, I>(mut self, order: impl Into<OrderBy<S>>) -> Self {
        self.tree.order.push(order.into().order);
        self
    }

    /// Drops duplicate rows (`SELECT DISTINCT`).
    pub fn distinct(mut self) -> Self {
        self.tree.distinct = true;
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

    /// `EXISTS (this query)`, as a condition for another query.
    pub fn exists(self) -> Expr<(), bool> {
        Expr::new(Node::Exists(Box::new(self.tree)))
    }

    /// This query as a value inside another (`(SELECT max(...) FROM ...)`):
    /// its first row's one column, or NULL without rows, so `R` should be
    /// an `Option` or an aggregate that always has a row.
    pub fn scalar(self) -> Scalar<R>
    where
        R: ColumnType,
    {
        Expr::new(Node::Scalar(Box::new(self.tree)))
    }

    /// Runs the query: every row, as values.
    ///
    /// # Errors
    /// [`Error::Conversion`] (naming the result column and the row's
    /// position) for a value that does not convert; errors of the autoflush.
    pub fn all(self) -> Result<Vec<R>> {
        let mut rows = Vec::new();
        self.each(|row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs the query and makes each row into `V` (a struct made `From`
    /// the row's tuple).
    ///
    /// # Errors
    /// As [`Select::all`].
    pub fn all_as<V: From<R>>(self) -> Result<Vec<V>> {
        let mut rows = Vec::new();
        self.each(|row| {
            rows.push(V::from(row));
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first row, if any (adds `LIMIT 1`).
    ///
    /// # Errors
    /// As [`Select::all`].
    pub fn first(self) -> Result<Option<R>> {
        Ok(self.limit(1).all()?.into_iter().next())
    }

    /// The one row.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is none, [`Error::NotOne`] when there
    /// are several; otherwise as [`Select::all`].
    pub fn one(self) -> Result<R> {
        let table = self.tree.from;
        let mut rows = self.limit(2).all()?;
        match (rows.pop(), rows.len()) {
            (Some(row), 0) => Ok(row),
            (None, _) => Err(Error::NotFound {
                table: table.to_owned(),
                what: "matching the query".to_owned(),
            }),
            (Some(_), n) => Err(Error::NotOne {
                table: table.to_owned(),
                found: n + 1,
            }),
        }
    }

    fn each(self, each: impl FnMut(R) -> Result<()>) -> Result<()> {
        let inner = std::rc::Rc::clone(self.session.inner());
        let table = self.tree.from;
        let _span = crate::sql::trace::query("select", table);
        inner.because(|| format!("select from {table}"), || self.each_now(each))
    }

    fn each_now(self, mut each: impl FnMut(R) -> Result<()>) -> Result<()> {
        let inner = self.session.inner();
        inner.autoflush()?;
        let conn = inner.conn()?;
        let text = conn.query_text(&self.tree)?;
        let params = text.params();
        let mut n = 0usize;
        conn.query(text.sql(), &params, self.tree.from, |row| {
            n += 1;
            let values = R::from_row(row).map_err(|e| Error::Conversion {
                table: self.tree.from.to_owned(),
                column: column_label(&self.tree.columns, e.index),
                key: format!("row #{n} of the query"),
                detail: e.error.to_string(),
            })?;
            each(values)
        })
    }
}

/// How a conversion error names result column `index`.
fn column_label(columns: &[Node], index: usize) -> String {
    match columns.get(index) {
        Some(Node::Column { table, name }) => format!("{table}.{name}"),
        Some(Node::Call { func, .. }) => format!("{func}(...) (result column {})", index + 1),
        _ => format!("result column {}", index + 1),
    }
}
