//! Loading: rows into objects through the identity map, and the conversion
//! errors of rows that do not fit their model (SQLAlchemy's `loading.py`).
//!
//! Every read path (get, query, raw SQL, lazy and eager loads, refresh)
//! comes through here, so each row becomes the one object of its key, and a
//! row already loaded does not overwrite unflushed changes. Does not build
//! SQL (`sql::text` and `query` do) nor decide when to autoflush (`session`).

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::TableDef;
use crate::session::SessionInner;
use crate::sql::{DbRow, Kind, Param, Sql, render};
use crate::state::{AnyNode, Node, State, copy_columns};
use crate::value::{ReadError, Row, ToValue, Value, read};

impl SessionInner {
    /// The object with `key`: from the identity map, else one SELECT (after
    /// an autoflush). `None` when no row has it.
    pub(crate) fn find<T: Model>(self: &Rc<Self>, key: &T::Key) -> Result<Option<Rc<Node<T>>>> {
        if let Some(node) = self.identity().get::<T>(key) {
            return Ok(Some(node));
        }
        let table = T::TABLE;
        let conn = self.conn()?;
        let key_value = key.to_value();
        let _span = crate::sql::trace::query("get", table.name);
        conn.because_unless_given(
            || {
                format!(
                    "get of {} {}",
                    table.name,
                    crate::sql::render(&Value::from(key_value.as_ref()))
                )
            },
            || {
                self.autoflush()?;
                let sql = conn.text(table, Kind::Get);
                let mut found = None;
                let params = [Param::new(key_value.as_ref(), table.primary_key().name)];
                conn.query_rows(&sql, &params, table.name, 1, |row| {
                    found = Some(self.load_row::<T>(row)?);
                    Ok(())
                })?;
                Ok(found)
            },
        )
    }

    /// Runs a SELECT of `T`'s columns (in table order) and hands each row's
    /// object to `each`: the one already in the identity map, or a new one.
    pub(crate) fn select<'s, T: Model>(
        self: &Rc<Self>,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        mut each: impl FnMut(Rc<Node<T>>) -> Result<()>,
    ) -> Result<()> {
        self.select_rows::<T>(sql, params, |node, _| each(node))
    }

    /// Like `select`, also handing over the row, for columns after `T`'s.
    pub(crate) fn select_rows<'s, T: Model>(
        self: &Rc<Self>,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        each: impl FnMut(Rc<Node<T>>, &DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        self.select_into::<T>(sql, params, false, each)
    }

    /// Like `select_rows`; with `populate`, a row whose object is loaded
    /// and unchanged overwrites it (SQLAlchemy's `populate_existing`).
    pub(crate) fn select_into<'s, T: Model>(
        self: &Rc<Self>,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        populate: bool,
        mut each: impl FnMut(Rc<Node<T>>, &DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        let conn = self.conn()?;
        conn.query(sql, params, T::TABLE.name, |row| {
            let node = self.load_row_into::<T>(row, populate)?;
            each(node, row)
        })
    }

    /// The object for one row (columns in `T::TABLE` order).
    pub(crate) fn load_row<T: Model>(self: &Rc<Self>, row: &DbRow<'_, '_>) -> Result<Rc<Node<T>>> {
        self.load_row_into(row, false)
    }

    /// The object for one row; an object already loaded keeps its values
    /// unless it is expired, or `populate` asks and it has no changes.
    pub(crate) fn load_row_into<T: Model>(
        self: &Rc<Self>,
        row: &DbRow<'_, '_>,
        populate: bool,
    ) -> Result<Rc<Node<T>>> {
        let table = T::TABLE;
        let key: T::Key =
            read(row, table.primary_key).map_err(|e| conversion_error(table, row, e))?;
        let mut fresh = false;
        // One lookup: the object already loaded, or a new one in its place.
        let node = self.identity_mut().get_or_try_insert::<T>(key, |key| {
            let value =
                T::from_keyed_row(row, key.clone()).map_err(|e| conversion_error(table, row, e))?;
            fresh = true;
            Ok(Node::new(value, State::Persistent, Rc::downgrade(self)))
        })?;
        if fresh {
            if self.transaction().is_open() {
                self.transaction()
                    .note_read(Rc::clone(&node) as Rc<dyn AnyNode>);
            }
        } else if node.meta().is_expired() || populate && !node.meta().has_snapshot() {
            self.overwrite(&node, row)?;
        }
        Ok(node)
    }

    /// Overwrites a loaded object with the row just read of it.
    fn overwrite<T: Model>(&self, node: &Rc<Node<T>>, row: &DbRow<'_, '_>) -> Result<()> {
        let table = T::TABLE;
        let fresh = T::from_row(row).map_err(|e| conversion_error(table, row, e))?;
        copy_columns(table, &fresh, &mut *node.borrow_mut()?)?;
        node.meta().discard_changes();
        node.meta().set_expired(false);
        self.transaction()
            .note_read(Rc::clone(node) as Rc<dyn AnyNode>);
        Ok(())
    }

    /// Overwrites an object with its row as the database holds it now,
    /// discarding its unflushed changes. Returns whether the row exists.
    /// Reads first and changes the object only once it can: a guard the
    /// user holds makes it [`Error::Borrowed`] with nothing changed.
    pub(crate) fn reread<T: Model>(&self, node: &Rc<Node<T>>) -> Result<bool> {
        let table = T::TABLE;
        let key = node.key()?;
        let conn = self.conn()?;
        let sql = conn.text(table, Kind::Get);
        let mut fresh = None;
        let key_value = key.to_value();
        let params = [Param::new(key_value.as_ref(), table.primary_key().name)];
        conn.query_rows(&sql, &params, table.name, 1, |row| {
            fresh = Some(T::from_row(row).map_err(|e| conversion_error(table, row, e))?);
            Ok(())
        })?;
        let Some(fresh) = fresh else {
            return Ok(false);
        };
        copy_columns(table, &fresh, &mut *node.borrow_mut()?)?;
        node.meta().discard_changes();
        node.meta().set_expired(false);
        self.transaction()
            .note_read(Rc::clone(node) as Rc<dyn AnyNode>);
        Ok(true)
    }
}

/// A row that did not convert: names the table, the column and the row's key.
pub(crate) fn conversion_error(table: &TableDef, row: &dyn Row, err: ReadError) -> Error {
    let key = match row.value(table.primary_key) {
        Ok(key) => render(&Value::from(key)),
        Err(_) => "(unreadable)".to_owned(),
    };
    Error::Conversion {
        table: table.name.to_owned(),
        column: table
            .columns
            .get(err.index)
            .map_or("?", |c| c.name)
            .to_owned(),
        key,
        detail: err.error.to_string(),
    }
}

/// The first column of a row that holds a key of `table` (a `RETURNING`
/// of the key, a read of keys alone), as a value.
pub(crate) fn key_in_first_column(table: &TableDef, row: &dyn Row) -> Result<Value> {
    match row.value(0) {
        Ok(key) => Ok(Value::from(key)),
        Err(e) => Err(Error::Conversion {
            table: table.name.to_owned(),
            column: table.primary_key().name.to_owned(),
            key: String::new(),
            detail: e.to_string(),
        }),
    }
}
