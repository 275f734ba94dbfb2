//! Bulk writes by filter: `session.update_rows::<T>()` and
//! `session.delete_rows::<T>()` build one `UPDATE` or `DELETE` over every
//! matching row, loaded or not; the session runs it and keeps the
//! identity map truthful (see [`Session::update_rows`]).

use std::marker::PhantomData;

use crate::error::Result;
use crate::model::Model;
use crate::session::Session;
use crate::sql::tree::{self, Node};
use crate::value::{ColumnType, Value};

use super::expr::{Column, Expr};
use super::scope::{InScope, Only};

/// An `UPDATE` of every row of `T` matching its filters, made by
/// [`Session::update_rows`]; run by [`UpdateRows::execute`].
#[must_use = "nothing is updated until `execute`"]
pub struct UpdateRows<'s, T: Model> {
    session: &'s Session,
    tree: tree::Update,
    _model: PhantomData<fn() -> T>,
}

impl<'s, T: Model> UpdateRows<'s, T> {
    pub(crate) fn new(session: &'s Session) -> Self {
        UpdateRows {
            session,
            tree: tree::Update {
                table: T::TABLE.name,
                ..tree::Update::default()
            },
            _model: PhantomData,
        }
    }

    /// Updates only the rows matching `condition` (and any earlier filter);
    /// without a filter, every row. `any` / `has` reach related models.
    pub fn filter<S: InScope<Only<T>, I>, I>(mut self, condition: Expr<S, bool>) -> Self {
        tree::and(&mut self.tree.filter, condition.node);
        self
    }

    /// Sets `column` to `value` in every matching row.
    pub fn set<V: ColumnType>(mut self, column: Column<T, V>, value: impl Into<V>) -> Self {
        let node = Node::Value {
            value: Value::from(value.into().to_value()),
            column: column.name(),
        };
        self.tree.set.retain(|(c, _)| *c != column.name());
        self.tree.set.push((column.name(), node));
        self
    }

    /// Runs the UPDATE; returns how many rows it changed.
    ///
    /// # Errors
    /// See [`Session::update_rows`].
    pub fn execute(self) -> Result<usize> {
        let inner = self.session.inner();
        inner.because(
            || format!("update_rows of {}", T::TABLE.name),
            || inner.update_rows::<T>(self.tree),
        )
    }
}

/// A `DELETE` of every row of `T` matching its filters, made by
/// [`Session::delete_rows`]; run by [`DeleteRows::execute`].
#[must_use = "nothing is deleted until `execute`"]
pub struct DeleteRows<'s, T: Model> {
    session: &'s Session,
    tree: tree::Delete,
    _model: PhantomData<fn() -> T>,
}

impl<'s, T: Model> DeleteRows<'s, T> {
    pub(crate) fn new(session: &'s Session) -> Self {
        DeleteRows {
            session,
            tree: tree::Delete {
                table: T::TABLE.name,
                ..tree::Delete::default()
            },
            _model: PhantomData,
        }
    }

    /// Deletes only the rows matching `condition` (and any earlier
    /// filter); without a filter, every row.
    pub fn filter<S: InScope<Only<T>, I>, I>(mut self, condition: Expr<S, bool>) -> Self {
        tree::and(&mut self.tree.filter, condition.node);
        self
    }

    /// Runs the DELETE; returns how many rows it deleted.
    ///
    /// # Errors
    /// See [`Session::delete_rows`].
    pub fn execute(self) -> Result<usize> {
        let inner = self.session.inner();
        inner.because(
            || format!("delete_rows of {}", T::TABLE.name),
            || inner.delete_rows::<T>(self.tree),
        )
    }
}
