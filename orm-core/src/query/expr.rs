//! Typed expressions: [`Column`]s, and the [`Expr`]essions and
//! [`OrderBy`] terms made from them. Each carries, as types, the models it
//! reads (its scope, checked against the query's in [`scope`](super::scope))
//! and the Rust type of its value, so `User::EMAIL.eq(5)` and a `sum` of a
//! text column do not compile.

use std::marker::PhantomData;

use crate::model::Model;
use crate::sql::tree::{self, Node, Order};
use crate::value::{ColumnType, ToValue, Value};

use super::select::Select;

/// A typed handle to one column of model `M`, whose field has type `T`
/// (`Option<String>` for a nullable text column). `#[derive(Model)]` makes
/// one per column: `User::EMAIL`.
///
/// Comparing with a value of another type does not compile:
/// `User::EMAIL.eq(5)` is rejected because `5` is not a `String`.
pub struct Column<M: Model, T> {
    name: &'static str,
    _types: PhantomData<fn(M) -> T>,
}

impl<M: Model, T> Clone for Column<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Model, T> Copy for Column<M, T> {}

// No `ColumnType` bound here: a field whose type is not one is reported
// once, at the field, not again at its constant.
impl<M: Model, T> Column<M, T> {
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
}

impl<M: Model, T: ColumnType> Column<M, T> {
    /// The column as an expression, to combine further.
    pub fn expr(self) -> Expr<M, T> {
        Expr::new(self.node())
    }

    pub(crate) fn node(self) -> Node {
        Node::Column {
            table: M::TABLE.name,
            name: self.name,
        }
    }

    fn aggregate<V>(self, func: &'static str, distinct: bool) -> Expr<M, V> {
        Expr::new(Node::Call {
            func,
            distinct,
            arg: Some(Box::new(self.node())),
        })
    }

    /// `count(column)`: how many rows have a value (not NULL) here.
    pub fn count(self) -> Expr<M, i64> {
        self.aggregate("count", false)
    }

    /// `count(DISTINCT column)`: how many different values.
    pub fn count_distinct(self) -> Expr<M, i64> {
        self.aggregate("count", true)
    }

    /// `min(column)`: `None` over no rows.
    pub fn min(self) -> Expr<M, Option<T::Value>> {
        self.aggregate("min", false)
    }

    /// `max(column)`: `None` over no rows.
    pub fn max(self) -> Expr<M, Option<T::Value>> {
        self.aggregate("max", false)
    }

    /// `sum(column)`: `None` over no rows (SQL's sum of nothing is NULL).
    pub fn sum(self) -> Expr<M, Option<<T::Value as Numeric>::Sum>>
    where
        T::Value: Numeric,
    {
        self.aggregate("sum", false)
    }

    /// `avg(column)`: `None` over no rows.
    pub fn avg(self) -> Expr<M, Option<f64>>
    where
        T::Value: Numeric,
    {
        self.aggregate("avg", false)
    }
}

/// A column type that `sum` and `avg` take, with the type its sum has.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number, so it has no `sum` or `avg`",
    note = "`sum` and `avg` take integer and floating-point columns; `count`, `min` and `max` take any"
)]
pub trait Numeric: ColumnType {
    /// The sum's type: `i64` for integers, `f64` for floating point.
    type Sum: ColumnType;
}

macro_rules! numeric {
    ($sum:ty: $($t:ty),*) => {$(
        impl Numeric for $t {
            type Sum = $sum;
        }
    )*};
}

numeric!(i64: i8, i16, i32, i64, u8, u16, u32, isize);
numeric!(f64: f32, f64);

/// An SQL expression reading the models `S` (a model, a pair of scopes,
/// or `()`) with a value of Rust type `V`: a condition when `V` is `bool`.
/// Combine conditions with [`Expr::and`], [`Expr::or`] and `!`.
pub struct Expr<S, V> {
    pub(crate) node: Node,
    _types: PhantomData<fn() -> (S, V)>,
}

impl<S, V> Clone for Expr<S, V> {
    fn clone(&self) -> Self {
        Expr::new(self.node.clone())
    }
}

impl<S, V> std::fmt::Debug for Expr<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expr").field(&self.sql()).finish()
    }
}

impl<S, V> PartialEq for Expr<S, V> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl<S, V> Expr<S, V> {
    pub(crate) fn new(node: Node) -> Self {
        Expr {
            node,
            _types: PhantomData,
        }
    }

    /// The SQL text, with `?` for each value, as it reads in a query of
    /// one table.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct Note { #[orm(primary_key)] id: i64, title: String }
    /// assert_eq!(Note::TITLE.contains("50%").sql(), r#""title" LIKE ? ESCAPE '\'"#);
    /// ```
    pub fn sql(&self) -> String {
        tree::render_expr(&self.node)
            .map(|r| r.sql)
            .unwrap_or_else(|e| e.to_string())
    }
}

/// Conditions combine within one scope, so a filter built in a loop or
/// by recursion keeps one type; [`Expr::both`] and [`Expr::either`]
/// combine conditions over different models.
impl<S> Expr<S, bool> {
    /// Both conditions (`AND`).
    pub fn and(self, other: Expr<S, bool>) -> Expr<S, bool> {
        Expr::new(Node::binary(self.node, "AND", other.node))
    }

    /// Either condition (`OR`).
    pub fn or(self, other: Expr<S, bool>) -> Expr<S, bool> {
        Expr::new(Node::binary(self.node, "OR", other.node))
    }

    /// Every condition of `conditions` (`AND`); true when there are none.
    pub fn all_of(conditions: impl IntoIterator<Item = Expr<S, bool>>) -> Expr<S, bool> {
        conditions
            .into_iter()
            .reduce(Expr::and)
            .unwrap_or_else(|| Expr::new(Node::Truth(true)))
    }

    /// Some condition of `conditions` (`OR`); false when there are none.
    pub fn any_of(conditions: impl IntoIterator<Item = Expr<S, bool>>) -> Expr<S, bool> {
        conditions
            .into_iter()
            .reduce(Expr::or)
            .unwrap_or_else(|| Expr::new(Node::Truth(false)))
    }
}

impl<S1, S2> Expr<(S1, S2), bool> {
    /// Both conditions, over different models:
    /// `Expr::both(User::NAME.eq("Ann"), Order::TOTAL_CENTS.gt(1000))`.
    pub fn both(a: Expr<S1, bool>, b: Expr<S2, bool>) -> Self {
        Expr::new(Node::binary(a.node, "AND", b.node))
    }

    /// Either condition, over different models.
    pub fn either(a: Expr<S1, bool>, b: Expr<S2, bool>) -> Self {
        Expr::new(Node::binary(a.node, "OR", b.node))
    }
}

impl<S> std::ops::Not for Expr<S, bool> {
    type Output = Expr<S, bool>;
    fn not(self) -> Expr<S, bool> {
        Expr::new(Node::Not(Box::new(self.node)))
    }
}

impl<S, V: ColumnType> Expr<S, Option<V>> {
    /// `coalesce(self, default)`: `default` where the value is NULL, so
    /// `Order::TOTAL_CENTS.sum().unwrap_or(0)` reads as `i64`.
    pub fn unwrap_or(self, default: impl Into<V>) -> Expr<S, V> {
        let default = Node::Value {
            value: Value::from(default.into().to_value()),
            column: "coalesce",
        };
        Expr::new(Node::Coalesce {
            value: Box::new(self.node),
            default: Box::new(default),
        })
    }
}

/// A scalar subquery as a value (an uncorrelated one reads no model of
/// the query around it).
pub type Scalar<V> = Expr<(), V>;

/// An `ORDER BY` term over the models `S`, made by `asc` or `desc` (a
/// column alone orders ascending).
pub struct OrderBy<S> {
    pub(crate) order: Order,
    _scope: PhantomData<fn() -> S>,
}

impl<S> OrderBy<S> {
    fn new(node: Node, descending: bool) -> Self {
        OrderBy {
            order: Order { node, descending },
            _scope: PhantomData,
        }
    }
}

impl<M: Model, T: ColumnType> From<Column<M, T>> for OrderBy<M> {
    fn from(column: Column<M, T>) -> Self {
        OrderBy::new(column.node(), false)
    }
}

impl<M: Model, T: ColumnType> From<Column<M, T>> for Expr<M, T> {
    fn from(column: Column<M, T>) -> Self {
        column.expr()
    }
}

impl<S, V> From<Expr<S, V>> for OrderBy<S> {
    fn from(expr: Expr<S, V>) -> Self {
        OrderBy::new(expr.node, false)
    }
}

/// Escapes `%`, `_` and `\` so that `text` matches itself in a LIKE
/// pattern with `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The comparisons, tests and orderings columns and expressions share:
/// written once, for [`Column`] (scope the model, value the field's type)
/// and for [`Expr`].
macro_rules! operators {
    ($ty:ty, $scope:ty, $value:ty, [$($generics:tt)*]) => {
        impl<$($generics)*> $ty {
            fn compare(self, op: &'static str, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                let right = Node::Value { value: Value::from(value.into().to_value()), column: self.label() };
                Expr::new(Node::binary(self.into_node(), op, right))
            }

            /// `self = value`
            pub fn eq(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare("=", value)
            }

            /// `self <> value`
            pub fn ne(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare("<>", value)
            }

            /// `self < value`
            pub fn lt(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare("<", value)
            }

            /// `self <= value`
            pub fn le(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare("<=", value)
            }

            /// `self > value`
            pub fn gt(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare(">", value)
            }

            /// `self >= value`
            pub fn ge(self, value: impl Into<<$value as ColumnType>::Value>) -> Expr<$scope, bool> {
                self.compare(">=", value)
            }

            fn compare_expr<S2, V2>(self, op: &'static str, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                Expr::new(Node::binary(self.into_node(), op, other.into().node))
            }

            /// `self = other`, another column or expression (a scalar
            /// subquery) holding the same type of value.
            pub fn eq_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr("=", other)
            }

            /// `self <> other`, another column or expression.
            pub fn ne_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr("<>", other)
            }

            /// `self < other`, another column or expression.
            pub fn lt_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr("<", other)
            }

            /// `self <= other`, another column or expression.
            pub fn le_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr("<=", other)
            }

            /// `self > other`, another column or expression.
            pub fn gt_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr(">", other)
            }

            /// `self >= other`, another column or expression.
            pub fn ge_expr<S2, V2>(self, other: impl Into<Expr<S2, V2>>) -> Expr<($scope, S2), bool>
            where
                V2: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                self.compare_expr(">=", other)
            }

            /// `self IS NULL`
            pub fn is_null(self) -> Expr<$scope, bool> {
                Expr::new(Node::Postfix(Box::new(self.into_node()), "IS NULL"))
            }

            /// `self IS NOT NULL`
            pub fn is_not_null(self) -> Expr<$scope, bool> {
                Expr::new(Node::Postfix(Box::new(self.into_node()), "IS NOT NULL"))
            }

            /// `self IN (values...)`; an empty list matches nothing.
            pub fn in_<I>(self, values: I) -> Expr<$scope, bool>
            where
                I: IntoIterator,
                I::Item: Into<<$value as ColumnType>::Value>,
            {
                let column = self.label();
                let values = values
                    .into_iter()
                    .map(|v| Node::Value { value: Value::from(v.into().to_value()), column })
                    .collect();
                Expr::new(Node::InList { subject: Box::new(self.into_node()), values })
            }

            /// `self IN (SELECT ...)`: the subquery's one column holds the
            /// same type of value.
            pub fn in_select<J, R>(self, subquery: Select<'_, J, R>) -> Expr<$scope, bool>
            where
                R: ColumnType<Value = <$value as ColumnType>::Value>,
            {
                Expr::new(Node::InSelect {
                    subject: Box::new(self.into_node()),
                    select: Box::new(subquery.into_tree()),
                })
            }

            /// Ascending order.
            pub fn asc(self) -> OrderBy<$scope> {
                OrderBy::new(self.into_node(), false)
            }

            /// Descending order.
            pub fn desc(self) -> OrderBy<$scope> {
                OrderBy::new(self.into_node(), true)
            }
        }

        impl<$($generics)*> $ty
        where
            $value: ColumnType<Value = String>,
        {
            fn like_node(self, pattern: String, escaped: bool) -> Expr<$scope, bool> {
                let column = self.label();
                Expr::new(Node::Like {
                    subject: Box::new(self.into_node()),
                    pattern: Box::new(Node::Value { value: Value::Text(pattern), column }),
                    escaped,
                })
            }

            /// `self LIKE pattern`, the pattern as given: `%` matches any
            /// run of characters, `_` one character. SQLite compares ASCII
            /// letters without case.
            pub fn like(self, pattern: impl Into<String>) -> Expr<$scope, bool> {
                self.like_node(pattern.into(), false)
            }

            /// Holds `text` anywhere, matched literally: `%`, `_` and `\`
            /// in `text` are escaped (`LIKE ? ESCAPE '\'`).
            pub fn contains(self, text: &str) -> Expr<$scope, bool> {
                self.like_node(format!("%{}%", escape_like(text)), true)
            }

            /// Starts with `text`, matched literally.
            pub fn starts_with(self, text: &str) -> Expr<$scope, bool> {
                self.like_node(format!("{}%", escape_like(text)), true)
            }

            /// Ends with `text`, matched literally.
            pub fn ends_with(self, text: &str) -> Expr<$scope, bool> {
                self.like_node(format!("%{}", escape_like(text)), true)
            }
        }
    };
}

impl<M: Model, T: ColumnType> Column<M, T> {
    fn into_node(self) -> Node {
        self.node()
    }

    fn label(&self) -> &'static str {
        self.name
    }
}

impl<S, V: ColumnType> Expr<S, V> {
    fn into_node(self) -> Node {
        self.node
    }

    /// The column a bound value is reported against: the expression's
    /// own column if it is one.
    fn label(&self) -> &'static str {
        match &self.node {
            Node::Column { name, .. } => name,
            _ => "expression",
        }
    }
}

operators!(Column<M, T>, M, T, [M: Model, T: ColumnType]);
operators!(Expr<S, V>, S, V, [S, V: ColumnType]);

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_escapes_its_wildcards_and_the_escape_character() {
        assert_eq!(escape_like(r"50%_off\now"), r"50\%\_off\\now");
        assert_eq!(escape_like("plain"), "plain");
    }
}
