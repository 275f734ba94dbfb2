//! The compile-time check that a query reads only the models it names.
//!
//! A query's models are a type-level list: `(Inner<User>, ())` for
//! `query::<User>()`, `(Inner<Order>, (Inner<User>, ()))` after
//! `.join(User::ORDERS)`, [`Outer`] for a left join. An expression carries
//! the models it reads as a type (`User`, a pair `(User, Order)` for
//! `a.and(b)`, `()` for none), and `filter`, `order_by`, `select` ... accept
//! it only where [`InScope`] holds: every model it reads is in the list.
//! So `query::<Note>().filter(Tag::ID.eq(1))` does not compile, where it
//! would otherwise filter the wrong table.
//!
//! The index parameters (`Here`, `There<I>`) are how Rust finds a model in a
//! list without overlapping impls; the compiler infers them, nobody writes
//! them. A model joined twice would make them ambiguous: each model is in a
//! query at most once (joining it again is an error when the query runs).

use std::marker::PhantomData;

use crate::model::Model;
use crate::value::ColumnType;

/// A model in a query's list that always has a row: the one queried, or
/// one joined with an inner join.
pub struct Inner<M>(PhantomData<M>);

/// A model joined with a left join: its columns may be NULL, so they read
/// as `Option`.
pub struct Outer<M>(PhantomData<M>);

/// The models of `query::<T>()` before any join: `T` alone. A function
/// taking a filter for such queries names it `Expr<S, bool>` with
/// `S: InScope<Only<T>, I>`.
pub type Only<T> = (Inner<T>, ());

/// Index: the model is the list's head.
pub struct Here;

/// Index: the model is further down the list.
pub struct There<I>(PhantomData<I>);

/// How a join reads its model's columns: as they are, or as `Option`.
pub trait JoinKind {
    /// The type a column of Rust type `T` reads as.
    type Read<T: ColumnType>: ColumnType;
}

impl<M> JoinKind for Inner<M> {
    type Read<T: ColumnType> = T;
}

impl<M> JoinKind for Outer<M> {
    type Read<T: ColumnType> = Option<T::Value>;
}

/// The list holds model `M` (at index `I`, which the compiler infers).
#[diagnostic::on_unimplemented(
    message = "`{M}` is not in this query",
    label = "this query reads `{M}` but does not join it",
    note = "join it along a relationship first (`.join(...)` / `.left_join(...)`), or test it without a join with `any` / `has`"
)]
pub trait Contains<M, I> {
    /// How `M` is joined.
    type Join: JoinKind;
}

impl<M: Model, R> Contains<M, Here> for (Inner<M>, R) {
    type Join = Inner<M>;
}

impl<M: Model, R> Contains<M, Here> for (Outer<M>, R) {
    type Join = Outer<M>;
}

impl<M, E, R: Contains<M, I>, I> Contains<M, There<I>> for (E, R) {
    type Join = R::Join;
}

/// Every model an expression of scope `Self` reads is in the list `J`.
#[diagnostic::on_unimplemented(
    message = "this expression reads a model that is not in the query",
    note = "join the model along a relationship first, or test it with `any` / `has`"
)]
pub trait InScope<J, I> {}

impl<J: Contains<M, I>, M: Model, I> InScope<J, I> for M {}

impl<J> InScope<J, ()> for () {}

impl<J, A: InScope<J, IA>, B: InScope<J, IB>, IA, IB> InScope<J, (IA, IB)> for (A, B) {}
