//! Filters across relationships without a join: `User::ORDERS.any(cond)`
//! and `Order::USER.has(cond)` (SQLAlchemy's `any()` / `has()`), each a
//! correlated `EXISTS` over the relationship's tables. The condition reads
//! the target model only; nested `any` / `has` reach further.

use crate::model::Model;
use crate::relation::{Relation, ToMany, ToOne};
use crate::sql::tree::{self, Join, Node};

use super::expr::Expr;
use super::scope::{InScope, Inner};

impl<P: Model, C: Model> Relation<P, C, ToMany> {
    /// Some object of the collection matches `condition`:
    /// `User::ORDERS.any(Order::TOTAL_CENTS.gt(1000))` is
    /// `EXISTS (SELECT 1 FROM "orders" WHERE "orders"."user_id" = "users"."id" AND ...)`.
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
    /// session.add(User::new("Bob"));
    /// session.add(Order::new(1500)).read()?.user.set(&ann)?;
    /// let big_spenders = session
    ///     .query::<User>()
    ///     .filter(User::ORDERS.any(Order::TOTAL_CENTS.gt(1000)))
    ///     .all()?;
    /// assert_eq!(big_spenders, [ann]);
    /// # Ok(()) }
    /// ```
    pub fn any<S: InScope<(Inner<C>, ()), I>, I>(self, condition: Expr<S, bool>) -> Expr<P, bool> {
        Expr::new(exists(self.hops(), Some(condition.node)))
    }

    /// The collection is not empty (`any` without a condition).
    pub fn is_not_empty(self) -> Expr<P, bool> {
        Expr::new(exists(self.hops(), None))
    }
}

impl<P: Model, C: Model> Relation<P, C, ToOne> {
    /// The object it points at exists and matches `condition`:
    /// `Order::USER.has(User::NAME.eq("Ann"))`.
    pub fn has<S: InScope<(Inner<C>, ()), I>, I>(self, condition: Expr<S, bool>) -> Expr<P, bool> {
        Expr::new(exists(self.hops(), Some(condition.node)))
    }

    /// It points at an object (`has` without a condition).
    pub fn is_set(self) -> Expr<P, bool> {
        Expr::new(exists(self.hops(), None))
    }
}

/// `EXISTS (SELECT 1 FROM <first hop> JOIN <later hops> WHERE <first hop
/// correlated to the outer row> AND condition)`.
fn exists(hops: Vec<crate::relation::Hop>, condition: Option<Node>) -> Node {
    let mut hops = hops.into_iter();
    let Some(first) = hops.next() else {
        return Node::One;
    };
    let mut select = tree::Select::from(first.table);
    select.columns.push(Node::One);
    for hop in hops {
        select.joins.push(Join {
            left: false,
            table: hop.table,
            column: hop.column,
            other_table: hop.from_table,
            other_column: hop.from_column,
        });
    }
    select.and_where(Node::binary(
        Node::Column {
            table: first.table,
            name: first.column,
        },
        "=",
        Node::OuterColumn {
            table: first.from_table,
            name: first.from_column,
        },
    ));
    if let Some(condition) = condition {
        select.and_where(condition);
    }
    Node::Exists(Box::new(select))
}
