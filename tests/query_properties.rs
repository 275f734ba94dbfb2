//! Random queries over random shops, each compared with the same
//! computation done in plain Rust over the same data.
//!
//! A case makes a shop (users, their orders with totals from a small range
//! and notes holding `%`, `_` and `\`, the orders' items and tags) through a
//! session, keeps the same rows as plain structs, and checks:
//! - random filter trees over `Order` (comparisons, `IS NULL`, `contains` /
//!   `starts_with` / `ends_with`, `in_`, `and` / `or` / `!`, `any_of` /
//!   `all_of`, with SQL's three-valued logic for NULL notes) select the
//!   orders the Rust evaluation selects, and their negation the ones it
//!   rejects;
//! - `any` / `has` filters, nested and over the link table, keep the rows
//!   the Rust evaluation keeps;
//! - joins return each matching object once, in order, and `count` counts
//!   it once;
//! - aggregates, grouped over a left join, over a whole filtered table, and
//!   kept by `having`, equal the Rust grouping.
//!
//! Every query is one statement, counted by a recorder.
//!
//! Each property runs on SQLite and on PostgreSQL; its cases share the
//! test's database, whose tables are created once and emptied per case
//! (PostgreSQL's sequences set back, so keys start from 1 again).
//!
//! Cases: 512 on SQLite and 100 on PostgreSQL, times `ORM_PROPTEST_SCALE`
//! (see `common::proptest_cases`), split evenly between the four
//! properties.

use crate::common;
use crate::common::shop;

use std::collections::{BTreeMap, BTreeSet};

use orm::prelude::*;
use orm::{Column, ColumnType, Recorder};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shop::*;

// ------------------------------------------------------------------- data

/// Names share a spelling up to case: `eq` tells them apart.
const NAMES: [&str; 4] = ["Ann", "Bob", "bob", "Cid"];

/// What filters compare names with: the names and one nobody has.
const QUERIED_NAMES: [&str; 5] = ["Ann", "Bob", "bob", "Cid", "Zoe"];

/// Notes with LIKE's wildcards and escape character in them, letters of
/// both cases and a non-ASCII one.
const NOTES: [&str; 13] = [
    "gift",
    "Gift wrap",
    "50% off",
    "50_off",
    "5000",
    "rush_order",
    r"c:\temp",
    r"C:\TEMP\x",
    "",
    "%",
    "_",
    r"\",
    "Été",
];

/// What `contains` / `starts_with` / `ends_with` look for.
const FRAGMENTS: [&str; 18] = [
    "", "%", "_", r"\", "gift", "GIFT", "50", "0%", "0_", "_o", "% o", "off", r"c:\", r"\t",
    "temp", "order", "été", "x",
];

/// What `eq` / `ne` / `in_` compare notes with: the notes and one no
/// order has.
const QUERIED_NOTES: [&str; 14] = [
    "gift",
    "Gift wrap",
    "50% off",
    "50_off",
    "5000",
    "rush_order",
    r"c:\temp",
    r"C:\TEMP\x",
    "",
    "%",
    "_",
    r"\",
    "Été",
    "GIFT",
];

const LABELS: [&str; 3] = ["gift", "bulk", r"c:\temp"];

/// What filters compare labels with: the labels and one no tag has.
const QUERIED_LABELS: [&str; 4] = ["gift", "bulk", r"c:\temp", "sale"];

const SKUS: [&str; 3] = ["pen", "ink", "desk"];

const QUERIED_SKUS: [&str; 4] = ["pen", "ink", "desk", "mug"];

/// A shop before it has keys: what the case inserts.
#[derive(Debug, Clone)]
struct ShopData {
    users: Vec<UserData>,
}

#[derive(Debug, Clone)]
struct UserData {
    name: &'static str,
    orders: Vec<OrderData>,
}

#[derive(Debug, Clone)]
struct OrderData {
    total: i64,
    note: Option<&'static str>,
    items: Vec<ItemData>,
    /// Indices into `LABELS`.
    tags: Vec<usize>,
}

#[derive(Debug, Clone)]
struct ItemData {
    sku: &'static str,
    quantity: i64,
    price: i64,
}

fn item_data() -> impl Strategy<Value = ItemData> {
    (select(&SKUS[..]), 1i64..4, (0i64..4).prop_map(|n| n * 100)).prop_map(
        |(sku, quantity, price)| ItemData {
            sku,
            quantity,
            price,
        },
    )
}

fn order_data() -> impl Strategy<Value = OrderData> {
    (
        (0i64..6).prop_map(|n| n * 100),
        proptest::option::weighted(0.75, select(&NOTES[..])),
        vec(item_data(), 0..3),
        subsequence(vec![0, 1, 2], 0..=3),
    )
        .prop_map(|(total, note, items, tags)| OrderData {
            total,
            note,
            items,
            tags,
        })
}

fn shop_data() -> impl Strategy<Value = ShopData> {
    let user = (select(&NAMES[..]), vec(order_data(), 0..4))
        .prop_map(|(name, orders)| UserData { name, orders });
    vec(user, 0..6).prop_map(|users| ShopData { users })
}

/// The rows as the database holds them, with their keys: the oracle's
/// input.
#[derive(Debug)]
struct Mirror {
    users: Vec<UserRow>,
    /// User by user, as the data lists them.
    orders: Vec<OrderRow>,
}

#[derive(Debug)]
struct UserRow {
    id: i64,
    name: &'static str,
}

#[derive(Debug)]
struct OrderRow {
    id: i64,
    /// Index into `Mirror::users`.
    user: usize,
    total: i64,
    note: Option<&'static str>,
    items: Vec<ItemData>,
    labels: Vec<&'static str>,
}

impl Mirror {
    fn orders_of(&self, user: usize) -> impl Iterator<Item = &OrderRow> {
        self.orders.iter().filter(move |o| o.user == user)
    }

    fn user_ids(&self, keep: impl Fn(usize) -> bool) -> Vec<i64> {
        let mut ids: Vec<i64> = (0..self.users.len())
            .filter(|&u| keep(u))
            .map(|u| self.users[u].id)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn order_ids(&self, keep: impl Fn(&OrderRow) -> bool) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .orders
            .iter()
            .filter(|o| keep(o))
            .map(|o| o.id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Empties the shop's tables in `db` (made by `create_all::<Shop>()`), then
/// inserts `data` through a session (relationships set on the objects, the
/// flush working out the keys) and returns the mirror.
fn build(db: &Database, data: &ShopData) -> orm::Result<Mirror> {
    match db.backend() {
        orm::Backend::Postgres => db.execute_batch(
            "TRUNCATE order_tags, items, orders, profiles, users, tags, employees \
             RESTART IDENTITY CASCADE",
        )?,
        _ => db.execute_batch(
            "DELETE FROM order_tags; DELETE FROM items; DELETE FROM orders; \
             DELETE FROM profiles; DELETE FROM users; DELETE FROM tags; DELETE FROM employees;",
        )?,
    }
    let session = db.session();
    let tags: Vec<Handle<Tag>> = LABELS
        .iter()
        .map(|label| session.add(Tag::new(*label)))
        .collect();
    let mut users = Vec::new();
    let mut orders = Vec::new();
    for user_data in &data.users {
        let user = session.add(User::new(user_data.name));
        for order_data in &user_data.orders {
            let order = session.add(Order::new(order_data.total));
            order.write()?.note = order_data.note.map(str::to_owned);
            order.read()?.user.set(&user)?;
            for &tag in &order_data.tags {
                order.read()?.tags.add(&tags[tag])?;
            }
            for item_data in &order_data.items {
                let item = session.add(Item::new(
                    item_data.sku,
                    item_data.quantity,
                    item_data.price,
                ));
                item.read()?.order.set(&order)?;
            }
            orders.push((users.len(), order, order_data));
        }
        users.push((user, user_data.name));
    }
    session.commit()?;
    let mirror = Mirror {
        users: users
            .iter()
            .map(|(user, name)| {
                Ok(UserRow {
                    id: user.key()?,
                    name,
                })
            })
            .collect::<orm::Result<_>>()?,
        orders: orders
            .iter()
            .map(|(user, order, data)| {
                Ok(OrderRow {
                    id: order.key()?,
                    user: *user,
                    total: data.total,
                    note: data.note,
                    items: data.items.clone(),
                    labels: data.tags.iter().map(|&t| LABELS[t]).collect(),
                })
            })
            .collect::<orm::Result<_>>()?,
    };
    Ok(mirror)
}

// ---------------------------------------------------------------- filters

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn expr<M: Model, T: ColumnType<Value = i64>>(
        self,
        column: Column<M, T>,
        value: i64,
    ) -> Expr<M, bool> {
        match self {
            Cmp::Eq => column.eq(value),
            Cmp::Ne => column.ne(value),
            Cmp::Lt => column.lt(value),
            Cmp::Le => column.le(value),
            Cmp::Gt => column.gt(value),
            Cmp::Ge => column.ge(value),
        }
    }

    fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Ne => left != right,
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
            Cmp::Gt => left > right,
            Cmp::Ge => left >= right,
        }
    }
}

fn cmp() -> impl Strategy<Value = Cmp> {
    prop_oneof![
        Just(Cmp::Eq),
        Just(Cmp::Ne),
        Just(Cmp::Lt),
        Just(Cmp::Le),
        Just(Cmp::Gt),
        Just(Cmp::Ge),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Like {
    Contains,
    StartsWith,
    EndsWith,
}

impl Like {
    fn expr(self, fragment: &str) -> Expr<Order, bool> {
        match self {
            Like::Contains => Order::NOTE.contains(fragment),
            Like::StartsWith => Order::NOTE.starts_with(fragment),
            Like::EndsWith => Order::NOTE.ends_with(fragment),
        }
    }

    /// Matched literally; SQLite's LIKE ignores the case of ASCII letters,
    /// not of others; PostgreSQL's ILIKE (which orm writes there) that of
    /// every letter (`Été` contains `été`).
    fn holds(self, text: &str, fragment: &str) -> bool {
        let fold = |s: &str| {
            if ON_POSTGRES.get() {
                s.to_lowercase()
            } else {
                s.to_ascii_lowercase()
            }
        };
        let text = fold(text);
        let fragment = fold(fragment);
        match self {
            Like::Contains => text.contains(&fragment),
            Like::StartsWith => text.starts_with(&fragment),
            Like::EndsWith => text.ends_with(&fragment),
        }
    }
}

thread_local! {
    /// Whether the property running on this thread runs on PostgreSQL: set
    /// by `check`, read by the oracle where the backends differ.
    static ON_POSTGRES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn like() -> impl Strategy<Value = Like> {
    prop_oneof![
        Just(Like::Contains),
        Just(Like::StartsWith),
        Just(Like::EndsWith),
    ]
}

/// SQL's `AND` over true, false and NULL (`None`).
fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// SQL's `OR` over true, false and NULL (`None`).
fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// A condition on an order.
#[derive(Debug, Clone)]
enum OrderFilter {
    Total(Cmp, i64),
    TotalIn(Vec<i64>),
    NoteIsNull,
    NoteIsNotNull,
    NoteEq(&'static str),
    NoteNe(&'static str),
    NoteIn(Vec<&'static str>),
    NoteLike(Like, &'static str),
    HasUser(Box<UserFilter>),
    AnyItem(ItemFilter),
    AnyTag(&'static str),
    And(Box<OrderFilter>, Box<OrderFilter>),
    Or(Box<OrderFilter>, Box<OrderFilter>),
    Not(Box<OrderFilter>),
    AllOf(Vec<OrderFilter>),
    AnyOf(Vec<OrderFilter>),
}

impl OrderFilter {
    fn expr(&self) -> Expr<Order, bool> {
        match self {
            OrderFilter::Total(cmp, value) => cmp.expr(Order::TOTAL_CENTS, *value),
            OrderFilter::TotalIn(values) => Order::TOTAL_CENTS.in_(values.iter().copied()),
            OrderFilter::NoteIsNull => Order::NOTE.is_null(),
            OrderFilter::NoteIsNotNull => Order::NOTE.is_not_null(),
            OrderFilter::NoteEq(note) => Order::NOTE.eq(*note),
            OrderFilter::NoteNe(note) => Order::NOTE.ne(*note),
            OrderFilter::NoteIn(notes) => Order::NOTE.in_(notes.iter().copied()),
            OrderFilter::NoteLike(like, fragment) => like.expr(fragment),
            OrderFilter::HasUser(user) => Order::USER.has(user.expr()),
            OrderFilter::AnyItem(item) => Order::ITEMS.any(item.expr()),
            OrderFilter::AnyTag(label) => Order::TAGS.any(Tag::LABEL.eq(*label)),
            OrderFilter::And(a, b) => a.expr().and(b.expr()),
            OrderFilter::Or(a, b) => a.expr().or(b.expr()),
            OrderFilter::Not(a) => !a.expr(),
            OrderFilter::AllOf(all) => Expr::all_of(all.iter().map(OrderFilter::expr)),
            OrderFilter::AnyOf(any) => Expr::any_of(any.iter().map(OrderFilter::expr)),
        }
    }

    /// The condition's SQL value for `order`: `None` for NULL.
    fn eval(&self, order: &OrderRow, shop: &Mirror) -> Option<bool> {
        match self {
            OrderFilter::Total(cmp, value) => Some(cmp.holds(order.total, *value)),
            // An empty list matches nothing, a NULL included.
            OrderFilter::TotalIn(values) => Some(values.contains(&order.total)),
            OrderFilter::NoteIsNull => Some(order.note.is_none()),
            OrderFilter::NoteIsNotNull => Some(order.note.is_some()),
            OrderFilter::NoteEq(note) => order.note.map(|n| n == *note),
            OrderFilter::NoteNe(note) => order.note.map(|n| n != *note),
            OrderFilter::NoteIn(notes) if notes.is_empty() => Some(false),
            OrderFilter::NoteIn(notes) => order.note.map(|n| notes.contains(&n)),
            OrderFilter::NoteLike(like, fragment) => order.note.map(|n| like.holds(n, fragment)),
            OrderFilter::HasUser(user) => Some(user.holds(order.user, shop)),
            OrderFilter::AnyItem(item) => Some(order.items.iter().any(|i| item.holds(i))),
            OrderFilter::AnyTag(label) => Some(order.labels.contains(label)),
            OrderFilter::And(a, b) => and3(a.eval(order, shop), b.eval(order, shop)),
            OrderFilter::Or(a, b) => or3(a.eval(order, shop), b.eval(order, shop)),
            OrderFilter::Not(a) => a.eval(order, shop).map(|v| !v),
            // Reduced as `all_of` / `any_of` build them, not short-circuited:
            // NULL AND false is false.
            OrderFilter::AllOf(all) => all
                .iter()
                .map(|f| f.eval(order, shop))
                .reduce(and3)
                .unwrap_or(Some(true)),
            OrderFilter::AnyOf(any) => any
                .iter()
                .map(|f| f.eval(order, shop))
                .reduce(or3)
                .unwrap_or(Some(false)),
        }
    }

    /// A `WHERE` keeps the rows whose condition is true, not NULL.
    fn holds(&self, order: &OrderRow, shop: &Mirror) -> bool {
        self.eval(order, shop) == Some(true)
    }
}

/// Order filters; `depth` bounds how often they reach users whose filters
/// reach orders again.
fn order_filter(depth: u32) -> BoxedStrategy<OrderFilter> {
    let total = (-2i64..14).prop_map(|n| n * 50);
    let note = || select(&QUERIED_NOTES[..]);
    let plain = prop_oneof![
        3 => (cmp(), total.clone()).prop_map(|(cmp, value)| OrderFilter::Total(cmp, value)),
        1 => vec(total, 0..4).prop_map(OrderFilter::TotalIn),
        1 => Just(OrderFilter::NoteIsNull),
        1 => Just(OrderFilter::NoteIsNotNull),
        1 => note().prop_map(OrderFilter::NoteEq),
        1 => note().prop_map(OrderFilter::NoteNe),
        1 => vec(note(), 0..4).prop_map(OrderFilter::NoteIn),
        3 => (like(), select(&FRAGMENTS[..]))
            .prop_map(|(like, fragment)| OrderFilter::NoteLike(like, fragment)),
        1 => item_filter().prop_map(OrderFilter::AnyItem),
        1 => select(&QUERIED_LABELS[..]).prop_map(OrderFilter::AnyTag),
    ];
    let leaf = if depth == 0 {
        plain.boxed()
    } else {
        prop_oneof![
            6 => plain,
            1 => user_filter(depth - 1).prop_map(|u| OrderFilter::HasUser(Box::new(u))),
        ]
        .boxed()
    };
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| OrderFilter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| OrderFilter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| OrderFilter::Not(Box::new(a))),
            vec(inner.clone(), 0..4).prop_map(OrderFilter::AllOf),
            vec(inner, 0..4).prop_map(OrderFilter::AnyOf),
        ]
    })
    .boxed()
}

/// A condition on a user (never NULL: names are not, `EXISTS` is not).
#[derive(Debug, Clone)]
enum UserFilter {
    NameEq(&'static str),
    AnyOrder(Box<OrderFilter>),
    And(Box<UserFilter>, Box<UserFilter>),
    Or(Box<UserFilter>, Box<UserFilter>),
    Not(Box<UserFilter>),
}

impl UserFilter {
    fn expr(&self) -> Expr<User, bool> {
        match self {
            UserFilter::NameEq(name) => User::NAME.eq(*name),
            UserFilter::AnyOrder(order) => User::ORDERS.any(order.expr()),
            UserFilter::And(a, b) => a.expr().and(b.expr()),
            UserFilter::Or(a, b) => a.expr().or(b.expr()),
            UserFilter::Not(a) => !a.expr(),
        }
    }

    fn holds(&self, user: usize, shop: &Mirror) -> bool {
        match self {
            UserFilter::NameEq(name) => shop.users[user].name == *name,
            UserFilter::AnyOrder(order) => shop.orders_of(user).any(|o| order.holds(o, shop)),
            UserFilter::And(a, b) => a.holds(user, shop) && b.holds(user, shop),
            UserFilter::Or(a, b) => a.holds(user, shop) || b.holds(user, shop),
            UserFilter::Not(a) => !a.holds(user, shop),
        }
    }
}

fn user_filter(depth: u32) -> BoxedStrategy<UserFilter> {
    let name = select(&QUERIED_NAMES[..]).prop_map(UserFilter::NameEq);
    let leaf = if depth == 0 {
        name.boxed()
    } else {
        prop_oneof![
            name,
            order_filter(depth - 1).prop_map(|o| UserFilter::AnyOrder(Box::new(o))),
        ]
        .boxed()
    };
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| UserFilter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| UserFilter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| UserFilter::Not(Box::new(a))),
        ]
    })
    .boxed()
}

/// A condition on an item (never NULL: no item column is nullable).
#[derive(Debug, Clone)]
enum ItemFilter {
    Quantity(Cmp, i64),
    Price(Cmp, i64),
    SkuEq(&'static str),
    And(Box<ItemFilter>, Box<ItemFilter>),
    Or(Box<ItemFilter>, Box<ItemFilter>),
    Not(Box<ItemFilter>),
}

impl ItemFilter {
    fn expr(&self) -> Expr<Item, bool> {
        match self {
            ItemFilter::Quantity(cmp, value) => cmp.expr(Item::QUANTITY, *value),
            ItemFilter::Price(cmp, value) => cmp.expr(Item::PRICE_CENTS, *value),
            ItemFilter::SkuEq(sku) => Item::SKU.eq(*sku),
            ItemFilter::And(a, b) => a.expr().and(b.expr()),
            ItemFilter::Or(a, b) => a.expr().or(b.expr()),
            ItemFilter::Not(a) => !a.expr(),
        }
    }

    fn holds(&self, item: &ItemData) -> bool {
        match self {
            ItemFilter::Quantity(cmp, value) => cmp.holds(item.quantity, *value),
            ItemFilter::Price(cmp, value) => cmp.holds(item.price, *value),
            ItemFilter::SkuEq(sku) => item.sku == *sku,
            ItemFilter::And(a, b) => a.holds(item) && b.holds(item),
            ItemFilter::Or(a, b) => a.holds(item) || b.holds(item),
            ItemFilter::Not(a) => !a.holds(item),
        }
    }
}

fn item_filter() -> BoxedStrategy<ItemFilter> {
    let leaf = prop_oneof![
        (cmp(), 0i64..5).prop_map(|(cmp, value)| ItemFilter::Quantity(cmp, value)),
        (cmp(), (-2i64..8).prop_map(|n| n * 50))
            .prop_map(|(cmp, value)| ItemFilter::Price(cmp, value)),
        select(&QUERIED_SKUS[..]).prop_map(ItemFilter::SkuEq),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| ItemFilter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| ItemFilter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| ItemFilter::Not(Box::new(a))),
        ]
    })
    .boxed()
}

// -------------------------------------------------------------- running

/// Runs `query` and checks that it issued exactly one statement.
fn one_statement<R>(
    recorder: &Recorder,
    query: impl FnOnce() -> orm::Result<R>,
) -> Result<R, TestCaseError> {
    recorder.clear();
    let result = query()?;
    prop_assert_eq!(recorder.count(), 1, "{:?}", recorder.sql());
    Ok(result)
}

fn ids<T: Model<Key = i64>>(handles: &[Handle<T>]) -> orm::Result<Vec<i64>> {
    handles.iter().map(Handle::key).collect()
}

/// `filter` over `Order`: the objects, their count, the objects its
/// negation selects, and the rows sorted by total.
fn random_order_filters(
    db: &Database,
    data: &ShopData,
    filter: &OrderFilter,
    descending: bool,
) -> Result<(), TestCaseError> {
    let shop = build(db, data)?;
    let session = db.session();
    let recorder = db.recorder();
    let sql = filter.expr().sql();
    let query = || session.query::<Order>().filter(filter.expr());

    let expected = shop.order_ids(|o| filter.holds(o, &shop));
    let found = one_statement(&recorder, || query().order_by(Order::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected, "{}", sql);
    let count = one_statement(&recorder, || query().count())?;
    prop_assert_eq!(count, expected.len(), "{}", sql);

    // Rows where the condition is NULL are in neither.
    let rejected = shop.order_ids(|o| filter.eval(o, &shop) == Some(false));
    let found = one_statement(&recorder, || {
        session
            .query::<Order>()
            .filter(!filter.expr())
            .order_by(Order::ID)
            .all()
    })?;
    prop_assert_eq!(&ids(&found)?, &rejected, "NOT ({})", sql);

    let mut by_total: Vec<(i64, i64)> = shop
        .orders
        .iter()
        .filter(|o| filter.holds(o, &shop))
        .map(|o| (o.total, o.id))
        .collect();
    by_total.sort_unstable_by_key(|&(total, id)| (if descending { -total } else { total }, id));
    let total_order = if descending {
        Order::TOTAL_CENTS.desc()
    } else {
        Order::TOTAL_CENTS.asc()
    };
    let rows: Vec<(i64, i64)> = one_statement(&recorder, || {
        query()
            .select((Order::TOTAL_CENTS, Order::ID))
            .order_by(total_order)
            .order_by(Order::ID)
            .all()
    })?;
    prop_assert_eq!(rows, by_total, "{}", sql);
    Ok(())
}

/// The random user filter; `any` of the order filter and its negation;
/// `any` nested in `any`; `has`; `any` through the link table, from both
/// sides.
fn any_and_has(
    db: &Database,
    data: &ShopData,
    users: &UserFilter,
    orders: &OrderFilter,
    items: &ItemFilter,
    name: &'static str,
    label: &'static str,
) -> Result<(), TestCaseError> {
    let shop = build(db, data)?;
    let session = db.session();
    let recorder = db.recorder();
    let user_ids = |filter: Expr<User, bool>| {
        one_statement(&recorder, || {
            let found = session
                .query::<User>()
                .filter(filter)
                .order_by(User::ID)
                .all()?;
            ids(&found)
        })
    };
    let order_ids = |filter: Expr<Order, bool>| {
        one_statement(&recorder, || {
            let found = session
                .query::<Order>()
                .filter(filter)
                .order_by(Order::ID)
                .all()?;
            ids(&found)
        })
    };

    prop_assert_eq!(
        user_ids(users.expr())?,
        shop.user_ids(|u| users.holds(u, &shop)),
        "{}",
        users.expr().sql()
    );

    let has_order = |u: usize| shop.orders_of(u).any(|o| orders.holds(o, &shop));
    let any = User::ORDERS.any(orders.expr());
    prop_assert_eq!(
        user_ids(any.clone())?,
        shop.user_ids(has_order),
        "{}",
        any.sql()
    );
    prop_assert_eq!(
        user_ids(!any.clone())?,
        shop.user_ids(|u| !has_order(u)),
        "NOT {}",
        any.sql()
    );

    let nested = User::ORDERS.any(Order::ITEMS.any(items.expr()));
    prop_assert_eq!(
        user_ids(nested.clone())?,
        shop.user_ids(|u| shop
            .orders_of(u)
            .any(|o| o.items.iter().any(|i| items.holds(i)))),
        "{}",
        nested.sql()
    );

    let has = Order::USER.has(User::NAME.eq(name));
    prop_assert_eq!(
        order_ids(has.clone())?,
        shop.order_ids(|o| shop.users[o.user].name == name),
        "{}",
        has.sql()
    );

    let tagged = Order::TAGS.any(Tag::LABEL.eq(label));
    prop_assert_eq!(
        order_ids(tagged.clone())?,
        shop.order_ids(|o| o.labels.contains(&label)),
        "{}",
        tagged.sql()
    );

    // From the other side of the link table: the tags of matching orders.
    let labels: Vec<String> = one_statement(&recorder, || {
        session
            .query::<Tag>()
            .filter(Tag::ORDERS.any(orders.expr()))
            .select(Tag::LABEL)
            .order_by(Tag::LABEL)
            .all()
    })?;
    let expected: BTreeSet<String> = shop
        .orders
        .iter()
        .filter(|o| orders.holds(o, &shop))
        .flat_map(|o| o.labels.iter().map(|l| l.to_string()))
        .collect();
    prop_assert_eq!(labels, expected.into_iter().collect::<Vec<_>>());
    Ok(())
}

/// Joins along `HasMany` (one and two deep), a left join, a join through
/// the link table and one along `BelongsTo`: objects once each, and `count`
/// agreeing; the joined rows themselves, repeated.
fn joins(
    db: &Database,
    data: &ShopData,
    orders: &OrderFilter,
    items: &ItemFilter,
    name: &'static str,
    label: &'static str,
) -> Result<(), TestCaseError> {
    let shop = build(db, data)?;
    let session = db.session();
    let recorder = db.recorder();
    let sql = orders.expr().sql();

    let with_orders = || {
        session
            .query::<User>()
            .join(User::ORDERS)
            .filter(orders.expr())
    };
    let expected = shop.user_ids(|u| shop.orders_of(u).any(|o| orders.holds(o, &shop)));
    let found = one_statement(&recorder, || with_orders().order_by(User::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected, "{}", sql);
    prop_assert_eq!(
        one_statement(&recorder, || with_orders().count())?,
        expected.len()
    );

    // In SQL the rows repeat: one per matching order.
    let pairs: Vec<(i64, i64)> = one_statement(&recorder, || {
        with_orders()
            .select((User::ID, Order::ID))
            .order_by(User::ID)
            .order_by(Order::ID)
            .all()
    })?;
    let mut expected_pairs: Vec<(i64, i64)> = shop
        .orders
        .iter()
        .filter(|o| orders.holds(o, &shop))
        .map(|o| (shop.users[o.user].id, o.id))
        .collect();
    expected_pairs.sort_unstable();
    prop_assert_eq!(pairs, expected_pairs, "{}", sql);

    let with_items = || {
        session
            .query::<User>()
            .join(User::ORDERS)
            .join(Order::ITEMS)
            .filter(Expr::both(orders.expr(), items.expr()))
    };
    let expected = shop.user_ids(|u| {
        shop.orders_of(u)
            .any(|o| orders.holds(o, &shop) && o.items.iter().any(|i| items.holds(i)))
    });
    let found = one_statement(&recorder, || with_items().order_by(User::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected, "{} / {}", sql, items.expr().sql());
    prop_assert_eq!(
        one_statement(&recorder, || with_items().count())?,
        expected.len()
    );

    let without_orders = || {
        session
            .query::<User>()
            .left_join(User::ORDERS)
            .filter(Order::ID.is_null())
    };
    let expected = shop.user_ids(|u| shop.orders_of(u).next().is_none());
    let found = one_statement(&recorder, || without_orders().order_by(User::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected);
    prop_assert_eq!(
        one_statement(&recorder, || without_orders().count())?,
        expected.len()
    );
    let everyone = one_statement(&recorder, || {
        session.query::<User>().left_join(User::ORDERS).count()
    })?;
    prop_assert_eq!(everyone, shop.users.len());

    let tagged = || {
        session
            .query::<Order>()
            .join(Order::TAGS)
            .filter(Tag::LABEL.eq(label))
    };
    let expected = shop.order_ids(|o| o.labels.contains(&label));
    let found = one_statement(&recorder, || tagged().order_by(Order::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected);
    prop_assert_eq!(
        one_statement(&recorder, || tagged().count())?,
        expected.len()
    );

    let named = || {
        session
            .query::<Order>()
            .join(Order::USER)
            .filter(Expr::both(User::NAME.eq(name), orders.expr()))
    };
    let expected = shop.order_ids(|o| shop.users[o.user].name == name && orders.holds(o, &shop));
    let found = one_statement(&recorder, || named().order_by(Order::ID).all())?;
    prop_assert_eq!(&ids(&found)?, &expected, "{}", sql);
    prop_assert_eq!(
        one_statement(&recorder, || named().count())?,
        expected.len()
    );
    Ok(())
}

/// `count`, `sum`, `min` and `max` of some totals, as SQL has them over no
/// rows: 0 and NULLs.
fn totals(totals: &[i64]) -> (i64, Option<i64>, Option<i64>, Option<i64>) {
    let count = i64::try_from(totals.len()).expect("a few orders");
    let sum = (!totals.is_empty()).then(|| totals.iter().sum());
    (
        count,
        sum,
        totals.iter().copied().min(),
        totals.iter().copied().max(),
    )
}

type WholeTable = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    i64,
    i64,
    i64,
);

/// Aggregates per user over a left join, over the filtered orders, kept by
/// `having`, and grouped by a nullable column.
fn aggregates(
    db: &Database,
    data: &ShopData,
    orders: &OrderFilter,
    above: i64,
) -> Result<(), TestCaseError> {
    let shop = build(db, data)?;
    let session = db.session();
    let recorder = db.recorder();
    let sql = orders.expr().sql();

    let per_user: Vec<(i64, i64, Option<i64>, Option<i64>)> = one_statement(&recorder, || {
        session
            .query::<User>()
            .left_join(User::ORDERS)
            .select((
                User::ID,
                Order::ID.count(),
                Order::TOTAL_CENTS.sum(),
                Order::TOTAL_CENTS.max(),
            ))
            .group_by(User::ID)
            .order_by(User::ID)
            .all()
    })?;
    let mut expected: Vec<(i64, i64, Option<i64>, Option<i64>)> = (0..shop.users.len())
        .map(|u| {
            let all: Vec<i64> = shop.orders_of(u).map(|o| o.total).collect();
            let (count, sum, _, max) = totals(&all);
            (shop.users[u].id, count, sum, max)
        })
        .collect();
    expected.sort_unstable();
    prop_assert_eq!(per_user, expected);

    let matching: Vec<&OrderRow> = shop
        .orders
        .iter()
        .filter(|o| orders.holds(o, &shop))
        .collect();
    let row: WholeTable = one_statement(&recorder, || {
        session
            .query::<Order>()
            .filter(orders.expr())
            .select((
                count_rows(),
                Order::TOTAL_CENTS.sum(),
                Order::TOTAL_CENTS.min(),
                Order::TOTAL_CENTS.max(),
                Order::TOTAL_CENTS.avg(),
                Order::NOTE.count(),
                Order::NOTE.count_distinct(),
                Order::TOTAL_CENTS.sum().unwrap_or(0),
            ))
            .one()
    })?;
    let all: Vec<i64> = matching.iter().map(|o| o.total).collect();
    let (count, sum, min, max) = totals(&all);
    let avg = sum.map(|s| s as f64 / count as f64);
    let notes: Vec<&str> = matching.iter().filter_map(|o| o.note).collect();
    let distinct_notes: BTreeSet<&str> = notes.iter().copied().collect();
    let expected: WholeTable = (
        count,
        sum,
        min,
        max,
        avg,
        i64::try_from(notes.len()).expect("a few notes"),
        i64::try_from(distinct_notes.len()).expect("a few notes"),
        sum.unwrap_or(0),
    );
    prop_assert_eq!(row, expected, "{}", sql);

    // WHERE before grouping, HAVING after: a user's sum over its matching
    // orders, for users with some.
    let kept: Vec<(i64, Option<i64>)> = one_statement(&recorder, || {
        session
            .query::<User>()
            .join(User::ORDERS)
            .filter(orders.expr())
            .select((User::ID, Order::TOTAL_CENTS.sum()))
            .group_by(User::ID)
            .having(Order::TOTAL_CENTS.sum().gt(above))
            .order_by(User::ID)
            .all()
    })?;
    let mut expected: Vec<(i64, Option<i64>)> = (0..shop.users.len())
        .filter_map(|u| {
            let all: Vec<i64> = shop
                .orders_of(u)
                .filter(|o| orders.holds(o, &shop))
                .map(|o| o.total)
                .collect();
            let (_, sum, _, _) = totals(&all);
            sum.filter(|&s| s > above)
                .map(|s| (shop.users[u].id, Some(s)))
        })
        .collect();
    expected.sort_unstable();
    prop_assert_eq!(kept, expected, "{} / sum > {}", sql, above);

    // NULL is a group of its own, sorted first (on both backends: the same
    // query, the same rows); texts sort bytewise (on PostgreSQL with a C
    // collation, as the test server's database has).
    let by_note: Vec<(Option<String>, i64)> = one_statement(&recorder, || {
        session
            .query::<Order>()
            .select((Order::NOTE, count_rows()))
            .group_by(Order::NOTE)
            .order_by(Order::NOTE)
            .all()
    })?;
    let mut expected: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for order in &shop.orders {
        *expected.entry(order.note.map(str::to_owned)).or_default() += 1;
    }
    prop_assert_eq!(by_note, expected.into_iter().collect::<Vec<_>>());
    Ok(())
}

// ------------------------------------------------------------- properties

const PROPERTIES: u32 = 4;

/// Cases per property: a quarter of 512 on SQLite, of 100 on PostgreSQL,
/// where each case costs round trips (times `ORM_PROPTEST_SCALE`).
fn cases_each(db: &Database) -> u32 {
    common::proptest_cases(db, 512, 100).div_ceil(PROPERTIES)
}

/// Creates the shop's tables in `db`, then runs `test` on the cases
/// `strategy` generates; a failure panics with the smallest failing input
/// proptest found.
fn check<S: Strategy>(
    db: &Database,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> orm::Result<()>
where
    S::Value: std::fmt::Debug,
{
    db.create_all::<Shop>()?;
    ON_POSTGRES.set(db.backend() == orm::Backend::Postgres);
    let mut runner = TestRunner::new(Config {
        cases: cases_each(db),
        // A failure is kept as a test replaying it, not in a file.
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
    Ok(())
}

backend_tests! {
    fn random_filters_select_what_the_rust_oracle_selects(db) -> orm::Result<()> {
        check(
            &db,
            (shop_data(), order_filter(1), any::<bool>()),
            |(data, filter, descending)| random_order_filters(&db, &data, &filter, descending),
        )
    }

    fn any_and_has_keep_what_the_rust_oracle_keeps(db) -> orm::Result<()> {
        check(
            &db,
            (
                shop_data(),
                user_filter(2),
                order_filter(1),
                item_filter(),
                select(&QUERIED_NAMES[..]),
                select(&QUERIED_LABELS[..]),
            ),
            |(data, users, orders, items, name, label)| {
                any_and_has(&db, &data, &users, &orders, &items, name, label)
            },
        )
    }

    fn joins_return_each_matching_object_once_and_count_it_once(db) -> orm::Result<()> {
        check(
            &db,
            (
                shop_data(),
                order_filter(1),
                item_filter(),
                select(&QUERIED_NAMES[..]),
                select(&QUERIED_LABELS[..]),
            ),
            |(data, orders, items, name, label)| joins(&db, &data, &orders, &items, name, label),
        )
    }

    // Replays of shrunk failures. This one fails on PostgreSQL while
    // `order_by` leaves NULL's place to the server (last in ascending
    // order there, first on SQLite).
    fn null_notes_sort_first_when_grouped_by_note(db) -> orm::Result<()> {
        db.create_all::<Shop>()?;
        ON_POSTGRES.set(db.backend() == orm::Backend::Postgres);
        let order = |note| OrderData {
            total: 0,
            note,
            items: vec![],
            tags: vec![],
        };
        let data = ShopData {
            users: vec![UserData {
                name: "Ann",
                orders: vec![order(Some("gift")), order(None)],
            }],
        };
        let filter = OrderFilter::Or(
            Box::new(OrderFilter::Total(Cmp::Eq, 0)),
            Box::new(OrderFilter::NoteEq("Gift wrap")),
        );
        aggregates(&db, &data, &filter, 550).unwrap_or_else(|e| panic!("{e}"));
        Ok(())
    }

    fn aggregates_equal_the_rust_grouping(db) -> orm::Result<()> {
        check(
            &db,
            (
                shop_data(),
                order_filter(1),
                (-2i64..32).prop_map(|n| n * 50),
            ),
            |(data, orders, above)| aggregates(&db, &data, &orders, above),
        )
    }
}
