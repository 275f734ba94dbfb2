//! Bulk UPDATE and DELETE by filter, and how they keep the identity map
//! truthful (SQLAlchemy's `synchronize_session`, done its "fetch" way: the
//! statement's `RETURNING` says which rows it touched).

use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use super::{Session, SessionInner};
use crate::backend::key_lists;
use crate::error::{Error, Misuse, Result};
use crate::loading::{conversion_error, key_in_first_column};
use crate::model::Model;
use crate::query::{DeleteRows, UpdateRows};
use crate::relation::cascade::{self, Effect};
use crate::schema::TableDef;
use crate::sql::tree::{self, Node};
use crate::sql::{Conn, DbRow, Param, text};
use crate::state::{AnyNode, Node as ObjectNode, address, set_columns};
use crate::value::{Row, Value, ValueRef, read};

impl Session {
    /// An `UPDATE` of every row of `T` matching a filter, loaded or not:
    /// one statement, returning how many rows changed.
    ///
    /// The identity map stays truthful: pending changes are flushed first
    /// (whatever autoflush says, so the statement sees them and contradicts
    /// no change still in memory); each loaded object whose row the
    /// statement changed takes the row's new values, as if just loaded;
    /// rows not loaded stay unloaded. A version column is bumped in every
    /// changed row, so other sessions holding those rows see the change.
    /// Setting a foreign key expires the loaded collections of the parent
    /// model, which reload on next access. It runs in the session's
    /// transaction: `rollback` undoes it in the database and in memory.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "orders")]
    /// # struct Order { #[orm(primary_key)] id: i64, status: String, total_cents: i64 }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<Order>()?;
    /// let session = db.session();
    /// let small = session.add(Order::new("open", 500));
    /// session.add(Order::new("open", 5000));
    /// let changed = session
    ///     .update_rows::<Order>()
    ///     .filter(Order::TOTAL_CENTS.lt(1000))
    ///     .set(Order::STATUS, "waived")
    ///     .execute()?;
    /// assert_eq!(changed, 1);
    /// assert_eq!(small.read()?.status, "waived"); // the loaded object follows
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Borrowed`] when a loaded object the statement changed is
    /// borrowed (the statement is undone: nothing changed);
    /// [`Misuse::KeyInBulkUpdate`] for a `set` of the primary key;
    /// [`Error::Constraint`] or [`Error::Busy`] from the statement, which
    /// then changed nothing; errors of the flush before it.
    pub fn update_rows<T: Model>(&self) -> UpdateRows<'_, T> {
        UpdateRows::new(self)
    }

    /// A `DELETE` of every row of `T` matching a filter, loaded or not:
    /// one statement, returning how many rows it deleted.
    ///
    /// The identity map stays truthful: pending changes are flushed first;
    /// each loaded object whose row is deleted becomes deleted (out of the
    /// identity map and of loaded collections; detached at commit); loaded
    /// objects the database changed through `ON DELETE CASCADE` or `SET
    /// NULL` follow as they do after `Session::delete`. Where such an
    /// object lies below rows that are not loaded (a loaded comment of a
    /// post that is not, under a deleted blog), the keys those rows are
    /// found by are read first: a `SELECT` of the matching keys (locking
    /// those rows on PostgreSQL), and one per table and level the cascade
    /// passes; the `DELETE` then goes by those keys, so the filter is read
    /// once and a row that starts to match meanwhile is left alone. It
    /// runs in the session's
    /// transaction: `rollback` brings everything back.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "orders")]
    /// # struct Order { #[orm(primary_key)] id: i64, status: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<Order>()?;
    /// let session = db.session();
    /// let old = session.add(Order::new("cancelled"));
    /// session.add(Order::new("open"));
    /// let deleted = session
    ///     .delete_rows::<Order>()
    ///     .filter(Order::STATUS.eq("cancelled"))
    ///     .execute()?;
    /// assert_eq!(deleted, 1);
    /// assert_eq!(old.state(), orm::State::Deleted);
    /// assert_eq!(session.query::<Order>().count()?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Borrowed`] when a loaded object the cascade would change is
    /// borrowed (the statement is undone); [`Error::Constraint`] (a
    /// `RESTRICT` foreign key) or [`Error::Busy`] from the statement, which
    /// then changed nothing; errors of the flush before it.
    pub fn delete_rows<T: Model>(&self) -> DeleteRows<'_, T> {
        DeleteRows::new(self)
    }
}

impl SessionInner {
    pub(crate) fn update_rows<T: Model>(
        self: &Rc<Self>,
        mut update: tree::Update,
    ) -> Result<usize> {
        let table = T::TABLE;
        if update.set.is_empty() {
            return Ok(0);
        }
        if update
            .set
            .iter()
            .any(|(c, _)| *c == table.primary_key().name)
        {
            return Err(Misuse::KeyInBulkUpdate { model: table.model }.into());
        }
        if let Some(version) = table.version.and_then(|v| table.columns.get(v)) {
            let bumped = Node::binary(
                Node::Column {
                    table: table.name,
                    name: version.name,
                },
                "+",
                Node::Value {
                    value: Value::Integer(1),
                    column: version.name,
                },
            );
            update.set.retain(|(c, _)| *c != version.name);
            update.set.push((version.name, bumped));
        }
        update.returning = table.columns.iter().map(|c| c.name).collect();
        let rendered = tree::render_update(&update, self.conn()?.dialect())?;
        self.flush()?;
        let mut changed = 0;
        let mut matched: Vec<(Rc<ObjectNode<T>>, Vec<Value>)> = Vec::new();
        self.bulk_statement(|conn| {
            conn.query(&rendered.sql, &rendered.params(), table.name, |row| {
                changed += 1;
                if let Some(node) = self.loaded::<T>(row, table.primary_key)? {
                    matched.push((node, row_values(table, row)?));
                }
                Ok(())
            })?;
            matched
                .iter()
                .try_for_each(|(node, _)| node.borrow_mut().map(drop))
        })?;
        self.take_rows(table, &matched)?;
        self.expire_parents_of(table, &update);
        Ok(changed)
    }

    pub(crate) fn delete_rows<T: Model>(
        self: &Rc<Self>,
        mut delete: tree::Delete,
    ) -> Result<usize> {
        let table = T::TABLE;
        let key = table.primary_key().name;
        delete.returning = vec![key];
        let dialect = self.conn()?.dialect();
        let rendered = tree::render_delete(&delete, dialect)?;
        self.flush()?;
        let reach = cascade::Reach::of(&self.identity.borrow(), &[], &[table.name]);
        // Where a cascade passes rows that are not loaded on its way to
        // loaded objects, the keys it starts from are read before the
        // DELETE, while the rows below them are still there to read; the
        // DELETE then goes by those keys, so that a row that starts to
        // match in between is not deleted unplanned.
        let keys_first = match reach.reads_rows() {
            true => Some(tree::render_delete_keys(&delete, key, dialect)?),
            false => None,
        };
        let mut changed = 0;
        let mut matched: Vec<Rc<dyn AnyNode>> = Vec::new();
        let effects = self.bulk_statement(|conn| match &keys_first {
            Some(select) => {
                let rows = self.keys_and_loaded::<T>(conn, select)?;
                let keys = rows.keys.iter().map(|(_, key)| key.clone()).collect();
                let effects = self.bulk_cascade(conn, &reach, &rows.loaded, rows.keys)?;
                changed = delete_by_keys(conn, table, keys)?;
                matched = rows.loaded;
                Ok(effects)
            }
            None => {
                let rows = self.keys_and_loaded::<T>(conn, &rendered)?;
                changed = rows.keys.len();
                matched = rows.loaded;
                self.bulk_cascade(conn, &reach, &matched, rows.keys)
            }
        })?;
        let mut all = matched.into_iter().map(Effect::Deleted).collect::<Vec<_>>();
        all.extend(effects);
        let (written, released) = cascade::apply(all, &self.identity)?;
        self.transaction().log(written);
        drop(released);
        Ok(changed)
    }

    /// Runs `statement`, whose rows hold one key of `T` each: the keys,
    /// and the loaded objects among them.
    fn keys_and_loaded<T: Model>(
        &self,
        conn: &Conn,
        statement: &tree::Rendered,
    ) -> Result<KeyedRows> {
        let table = T::TABLE;
        let mut keys = Vec::new();
        let mut loaded: Vec<Rc<dyn AnyNode>> = Vec::new();
        conn.query(&statement.sql, &statement.params(), table.name, |row| {
            keys.push((table.name, key_in_first_column(table, row)?));
            if let Some(node) = self.loaded::<T>(row, 0)? {
                loaded.push(node);
            }
            Ok(())
        })?;
        Ok(KeyedRows { keys, loaded })
    }

    /// Loaded objects take the values their rows have now (checked free of
    /// guards before).
    pub(super) fn take_rows<T: Model>(
        &self,
        table: &TableDef,
        rows: &[(Rc<ObjectNode<T>>, Vec<Value>)],
    ) -> Result<()> {
        for (node, values) in rows {
            set_columns(table, &mut *node.borrow_mut()?, values)?;
            node.meta().discard_changes();
            node.meta().set_expired(false);
            self.transaction()
                .note_read(Rc::clone(node) as Rc<dyn AnyNode>);
        }
        Ok(())
    }

    /// The loaded object of the key in column `at` of the row, if the
    /// identity map holds it.
    pub(super) fn loaded<T: Model>(
        &self,
        row: &DbRow<'_, '_>,
        at: usize,
    ) -> Result<Option<Rc<ObjectNode<T>>>> {
        let table = T::TABLE;
        let key: T::Key = read(row, at).map_err(|e| conversion_error(table, row, e))?;
        Ok(self.identity().get::<T>(&key))
    }

    /// What the database's `ON DELETE` actions do to loaded objects other
    /// than `matched` (the deleted rows' own), with every object they will
    /// change checked free of the user's guards.
    fn bulk_cascade(
        &self,
        conn: &Conn,
        reach: &cascade::Reach,
        matched: &[Rc<dyn AnyNode>],
        keys: Vec<(&'static str, Value)>,
    ) -> Result<Vec<Effect>> {
        let own: HashSet<*const ()> = matched.iter().map(address).collect();
        let effects: Vec<Effect> = reach
            .plan(conn, &self.identity, keys, matched)?
            .into_iter()
            .filter(|effect| {
                let node = match effect {
                    Effect::Deleted(n) | Effect::SetNull(n, _) => n,
                };
                !own.contains(&address(node))
            })
            .collect();
        for effect in &effects {
            if let Effect::SetNull(node, _) = effect {
                node.check_writable()?;
            }
        }
        Ok(effects)
    }

    /// Runs `statement` in the session's transaction (opened if need be)
    /// inside a savepoint, so that a check failing after it undoes it.
    pub(super) fn bulk_statement<R>(
        &self,
        statement: impl FnOnce(&Conn) -> Result<R>,
    ) -> Result<R> {
        let conn = self.conn()?;
        let transaction = self.transaction();
        let opened = !transaction.is_open();
        conn.control(if opened {
            conn.dialect().begin()
        } else {
            "SAVEPOINT orm_bulk"
        })?;
        // Open from here, so that what the statement loads is noted as
        // read in the transaction (a rollback reads it again).
        transaction.set_open(true);
        match statement(conn) {
            Ok(result) => {
                if !opened {
                    conn.control("RELEASE orm_bulk")?;
                }
                Ok(result)
            }
            Err(error) => {
                let undone = if opened {
                    conn.control("ROLLBACK")
                } else {
                    conn.control("ROLLBACK TO orm_bulk")
                        .and_then(|()| conn.control("RELEASE orm_bulk"))
                };
                // Opened for this statement alone and closed again; should
                // the ROLLBACK fail, the session keeps it as open.
                if opened && undone.is_ok() {
                    transaction.set_open(false);
                }
                Err(error)
            }
        }
    }

    /// After an UPDATE that set foreign keys: the collections of the
    /// parents they point at may have gained or lost members.
    fn expire_parents_of(&self, table: &TableDef, update: &tree::Update) {
        let parents: Vec<&'static str> = update
            .set
            .iter()
            .filter_map(|(name, _)| table.columns.iter().find(|c| c.name == *name))
            .filter_map(|c| c.references.as_ref())
            .map(|fk| (fk.target)().name)
            .collect();
        if parents.is_empty() {
            return;
        }
        // Only the parents' models: the rest of the session is not visited.
        let nodes = self
            .identity
            .borrow()
            .nodes_of(|t| parents.contains(&t.name));
        for node in nodes {
            if let Ok(value) = node.value() {
                value.for_each_relation(&mut |field| {
                    if let Some(collection) = field.as_collection() {
                        collection.expire();
                    }
                });
            }
        }
    }
}

/// The rows a bulk delete reads or deletes, by key.
struct KeyedRows {
    /// (table, key) of each row.
    keys: Vec<(&'static str, Value)>,
    /// The loaded objects among them.
    loaded: Vec<Rc<dyn AnyNode>>,
}

/// Every column of a returned row, owned.
pub(super) fn row_values(table: &TableDef, row: &DbRow<'_, '_>) -> Result<Vec<Value>> {
    (0..table.columns.len())
        .map(|i| {
            row.value(i)
                .map(Value::from)
                .map_err(|e| Error::Conversion {
                    table: table.name.to_owned(),
                    column: table.columns[i].name.to_owned(),
                    key: String::new(),
                    detail: e.to_string(),
                })
        })
        .collect()
}

/// Deletes the rows of `table` with these keys (read just before, in the
/// same transaction): one statement per key list. Returns how many it
/// deleted.
fn delete_by_keys(conn: &Conn, table: &TableDef, keys: Vec<Value>) -> Result<usize> {
    let column = table.primary_key().name;
    let mut deleted = 0;
    for list in key_lists(&keys, conn.dialect()) {
        let sql = text::delete_by_keys(table, list.form, conn.dialect());
        let param = [Param::new(ValueRef::Text(&list.json), column)];
        conn.query(&sql, &param, table.name, |_| {
            deleted += 1;
            Ok(())
        })?;
    }
    Ok(deleted)
}
