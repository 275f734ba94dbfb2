//! Persistence: the INSERT, UPDATE and DELETE of one object, the link rows
//! of many-to-many relationships, and the version checks of
//! `#[orm(version)]` (SQLAlchemy's `persistence.py`).
//!
//! Called only by the unit of work, inside its transaction, in the order it
//! decides. Each function reports what it changed in memory (a key SQLite
//! assigned, a version bumped) so that a failed flush can undo exactly that.

use std::rc::Rc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::sql::{Batch, Conn, Kind, Param, render, text};
use crate::state::{AnyModel, AnyNode, columns, conversion};
use crate::value::{Bound, Row, Value, ValueRef};

/// What an INSERT changed in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inserted {
    /// SQLite assigned the key (an `INTEGER PRIMARY KEY` left unset).
    pub assigned_key: bool,
    /// The version column was unset (0) and now starts at 1.
    pub version_started: bool,
    /// The `Defaulted` columns that were unset, as a bit set: the INSERT
    /// left them to the database and they now hold what it chose.
    pub defaults_read: u64,
}

/// Inserts `node` through `batch` (the table's prepared INSERT of every
/// column), after copying each parent's key into its foreign key; an object
/// with `Defaulted` fields unset takes [`defaults::insert_defaults`] instead.
/// `rowid_key`: the table's key is an `INTEGER PRIMARY KEY` (worked out
/// once per batch).
pub(crate) fn insert(
    node: &Rc<dyn AnyNode>,
    conn: &Conn,
    batch: &mut Batch<'_>,
    rowid_key: bool,
) -> Result<Inserted> {
    let table = node.table();
    let version_started = start_version(node)?;
    let value = node.value()?;
    let assigned_key = rowid_key && value.key_unassigned();
    let mut unset = value.unset_columns();
    if assigned_key && conn.dialect() == Backend::Postgres {
        // PostgreSQL's identity column takes its value when left out, and
        // says which through `RETURNING`, as a column default does.
        unset |= key_bit(table)?;
    }
    if unset != 0 {
        drop(value);
        return defaults::insert_defaults(node, conn, rowid_key, version_started, unset);
    }
    sync_foreign_keys(&*value)?;
    batch.execute_each(table.columns.len(), |i| {
        let bound = if assigned_key && i == table.primary_key {
            Bound::Ref(ValueRef::Null)
        } else {
            value.column(i)
        };
        (bound, table.columns[i].name)
    })?;
    drop(value);
    if assigned_key {
        let rowid = batch.last_insert_rowid()?;
        if !node.value_mut()?.set_rowid(Some(rowid)) {
            return Err(key_out_of_range(table, rowid));
        }
    }
    Ok(Inserted {
        assigned_key,
        version_started,
        defaults_read: 0,
    })
}

/// The insert of objects with `Defaulted` fields unset. A module of its own
/// so that the common insert above compiles as it did without it: beside
/// it, the compiler laid out the bind loop of every insert differently, 41
/// instructions a row slower (callgrind, 10,000 rows).
mod defaults {
    use super::*;

    /// The insert of an object whose `Defaulted` fields in `unset` are unset:
    /// an INSERT that leaves their columns out, so that their `DEFAULT`
    /// applies, and reads back what the database chose (`RETURNING`) into the
    /// object. A statement of its own, not the batch: the columns differ. On
    /// failure it undoes what it changed in memory before returning, since the
    /// unit of work reverts only the inserts that succeeded (a value read back
    /// may fail to convert after the INSERT ran and the key was assigned).
    #[cold]
    pub(super) fn insert_defaults(
        node: &Rc<dyn AnyNode>,
        conn: &Conn,
        rowid_key: bool,
        version_started: bool,
        unset: u64,
    ) -> Result<Inserted> {
        let mut inserted = Inserted {
            assigned_key: false,
            version_started,
            defaults_read: 0,
        };
        match insert_and_read_back(node, conn, rowid_key, &mut inserted, unset) {
            Ok(()) => Ok(inserted),
            Err(error) => {
                undo_insert(node, inserted);
                Err(error)
            }
        }
    }

    /// The steps of [`insert_defaults`], each noting in `inserted` what it
    /// changed.
    fn insert_and_read_back(
        node: &Rc<dyn AnyNode>,
        conn: &Conn,
        rowid_key: bool,
        inserted: &mut Inserted,
        unset: u64,
    ) -> Result<()> {
        let table = node.table();
        let value = node.value()?;
        sync_foreign_keys(&*value)?;
        let assigned_key = rowid_key && value.key_unassigned();
        let bound = |i: usize| {
            if assigned_key && i == table.primary_key {
                Bound::Ref(ValueRef::Null)
            } else {
                value.column(i)
            }
        };
        let mut defaults = insert_returning(conn, table, unset, bound)?;
        drop(value);
        inserted.assigned_key = assigned_key;
        let mut unset = unset;
        if assigned_key {
            // The key SQLite assigned, or the one PostgreSQL returned with
            // the defaults (then taken out of them).
            let rowid = if is_unset(unset, table.primary_key) {
                let at = unset_indexes(table, unset)
                    .position(|i| i == table.primary_key)
                    .unwrap_or_default();
                unset &= !(1 << table.primary_key);
                match defaults.remove(at) {
                    Value::Integer(key) => key,
                    other => return Err(not_a_key(table, &other)),
                }
            } else {
                conn.last_insert_rowid()?
            };
            if !node.value_mut()?.set_rowid(Some(rowid)) {
                return Err(key_out_of_range(table, rowid));
            }
        }
        inserted.defaults_read = unset;
        read_defaults(node, unset, &defaults)
    }

    /// Runs the INSERT that leaves the `unset` columns out; returns the values
    /// the database gave them (`RETURNING`), in column order.
    fn insert_returning<'v>(
        conn: &Conn,
        table: &'static TableDef,
        unset: u64,
        bound: impl Fn(usize) -> Bound<'v>,
    ) -> Result<Vec<Value>> {
        let written: Vec<(Bound<'v>, &'static str)> = (0..table.columns.len())
            .filter(|&i| !is_unset(unset, i))
            .map(|i| (bound(i), table.columns[i].name))
            .collect();
        let params: Vec<Param<'_>> = written
            .iter()
            .map(|(value, column)| Param::new(value.as_ref(), column))
            .collect();
        let sql = conn.text(table, Kind::InsertDefaults(unset));
        let mut defaults = Vec::new();
        conn.query(&sql, &params, table.name, |row| {
            for (index, column) in unset_indexes(table, unset).enumerate() {
                let value = row
                    .value(index)
                    .map_err(|e| conversion(table, column, "(new)", e))?;
                defaults.push(Value::from(value));
            }
            Ok(())
        })?;
        Ok(defaults)
    }

    /// Writes the values the database chose into the `unset` columns of the
    /// object, and of its snapshot if it has one, so that it is clean.
    fn read_defaults(node: &Rc<dyn AnyNode>, unset: u64, defaults: &[Value]) -> Result<()> {
        let table = node.table();
        let key = render(&node.key_value()?);
        let mut value = node.value_mut()?;
        for (column, default) in unset_indexes(table, unset).zip(defaults) {
            value
                .set_column(column, default.as_ref())
                .map_err(|e| conversion(table, column, &key, e))?;
            node.meta().patch_snapshot(column, default.clone());
        }
        Ok(())
    }
}

/// The primary key's bit in a bit set of columns.
fn key_bit(table: &TableDef) -> Result<u64> {
    match table.primary_key {
        i if i < 64 => Ok(1 << i),
        _ => Err(Error::Unsupported {
            what: "a generated key after the 64th column",
            detail: "on PostgreSQL (move the key field up)",
        }),
    }
}

/// A version column still unset (0) starts at 1; returns whether it did.
fn start_version(node: &Rc<dyn AnyNode>) -> Result<bool> {
    match node.table().version {
        Some(v) if node.value()?.column(v).as_ref() == ValueRef::Integer(0) => {
            set_version(node, v, &Value::Integer(1))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn key_out_of_range(table: &TableDef, rowid: i64) -> Error {
    Error::OutOfRange {
        what: format!("`{}`.`{}`", table.name, table.primary_key().name),
        value: rowid.to_string(),
        limit: "the database assigned a key the field's type cannot hold; use i64".to_owned(),
    }
}

/// A generated key that came back as no integer (an identity column of
/// another type, made by hand).
#[cold]
fn not_a_key(table: &TableDef, value: &Value) -> Error {
    Error::Conversion {
        table: table.name.to_owned(),
        column: table.primary_key().name.to_owned(),
        key: "(new)".to_owned(),
        detail: format!(
            "the database assigned {}, not an integer key",
            render(value)
        ),
    }
}

fn is_unset(unset: u64, column: usize) -> bool {
    column < 64 && unset & (1 << column) != 0
}

/// The positions of the columns in the bit set `unset`.
fn unset_indexes(table: &TableDef, unset: u64) -> impl Iterator<Item = usize> {
    (0..table.columns.len()).filter(move |&i| is_unset(unset, i))
}

/// Undoes in memory what a rolled-back INSERT did.
pub(crate) fn undo_insert(node: &Rc<dyn AnyNode>, inserted: Inserted) {
    let table = node.table();
    if let Ok(mut value) = node.value_mut() {
        if inserted.assigned_key {
            value.set_rowid(None);
        }
        if inserted.version_started
            && let Some(v) = table.version
        {
            let _ = value.set_column(v, ValueRef::Integer(0));
        }
        for column in unset_indexes(table, inserted.defaults_read) {
            value.unset_column(column);
        }
    }
}

/// UPDATE of the columns that changed since the snapshot, if any. With a
/// version column: `SET version = old + 1 ... WHERE ... AND version = old`.
/// Returns the old version when it bumped one, for [`undo_update`].
pub(crate) fn update(node: &Rc<dyn AnyNode>, conn: &Conn) -> Result<Option<Value>> {
    let table = node.table();
    let Some(snapshot) = node.meta().snapshot() else {
        return Ok(None);
    };
    let value = node.value()?;
    let unset = value.unset_columns();
    if unset != 0 {
        return Err(unset_in_database(node, unset));
    }
    sync_foreign_keys(&*value)?;
    let current = columns(table, &*value);
    let changed: Vec<usize> = (0..current.len())
        .filter(|&i| current[i] != snapshot[i] && Some(i) != table.version)
        .collect();
    if changed.is_empty() {
        return Ok(None);
    }
    let pk = table.primary_key;
    if changed.contains(&pk) {
        return Err(Error::Misuse(crate::error::Misuse::KeyChanged {
            model: table.model,
            from: render(&snapshot[pk]),
            to: render(&current[pk]),
        }));
    }
    let versions = match table.version {
        Some(v) => Some((
            v,
            snapshot[v].clone(),
            next_version(table, v, &snapshot[v])?,
        )),
        None => None,
    };
    let mut params: Vec<Param<'_>> = changed
        .iter()
        .map(|&i| Param::new(current[i].as_ref(), table.columns[i].name))
        .collect();
    if let Some((v, _, next)) = &versions {
        params.push(Param::new(next.as_ref(), table.columns[*v].name));
    }
    params.push(Param::new(current[pk].as_ref(), table.primary_key().name));
    if let Some((v, old, _)) = &versions {
        params.push(Param::new(old.as_ref(), table.columns[*v].name));
    }
    let sql = match text::changed_mask(&changed) {
        Some(mask) => conn.text(table, Kind::Update(mask)),
        None => text::update_in(table, &changed, conn.dialect()).into(),
    };
    // The cause names the columns, and the version the row must still have.
    let cause = || {
        let names: Vec<&str> = changed.iter().map(|&i| table.columns[i].name).collect();
        let check = versions.as_ref().map(|(_, old, _)| version_check(old));
        [Some(names.join(", ")), check]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    };
    let rows = conn.because(false, cause, || conn.execute(&sql, &params, table.name))?;
    if rows == 0 {
        return Err(stale(table, &current[pk]));
    }
    drop(params);
    drop(value);
    match versions {
        Some((v, old, next)) => {
            set_version(node, v, &next)?;
            Ok(Some(old))
        }
        None => Ok(None),
    }
}

/// A row always holds a value, and SQLite has no `SET column = DEFAULT`:
/// an object in the database whose `Defaulted` field was set back to
/// `Unset` cannot be written.
fn unset_in_database(node: &Rc<dyn AnyNode>, unset: u64) -> Error {
    let table = node.table();
    let column = unset_indexes(table, unset)
        .next()
        .and_then(|i| table.columns.get(i))
        .map_or("?", |c| c.name);
    let key = node
        .key_value()
        .map_or_else(|_| "?".to_owned(), |key| render(&key));
    Error::OutOfRange {
        what: format!("`{}`.`{column}` of the row with key {key}", table.name),
        value: "`Defaulted::Unset`".to_owned(),
        limit: "only an insert leaves a column to the database's default; set a value (`Defaulted::Set`) or leave the one it has".to_owned(),
    }
}

/// Undoes in memory the version bump of a rolled-back UPDATE.
pub(crate) fn undo_update(node: &Rc<dyn AnyNode>, old_version: &Value) {
    if let Some(v) = node.table().version {
        let _ = set_version(node, v, old_version);
    }
}

fn next_version(table: &TableDef, column: usize, old: &Value) -> Result<Value> {
    match old {
        Value::Integer(n) => {
            n.checked_add(1)
                .map(Value::Integer)
                .ok_or_else(|| Error::OutOfRange {
                    what: format!("`{}`.`{}`", table.name, table.columns[column].name),
                    value: n.to_string(),
                    limit: "the version counter is at its maximum and cannot be bumped".to_owned(),
                })
        }
        _ => Ok(Value::Integer(1)),
    }
}

/// DELETE of the object's row; with a version column, only if the
/// database still holds the version it was loaded with.
pub(crate) fn delete(node: &Rc<dyn AnyNode>, conn: &Conn) -> Result<()> {
    let table = node.table();
    let key = node.key_value()?;
    let sql = conn.text(table, Kind::Delete);
    // The version the database should still hold: as loaded.
    let version = match table.version {
        Some(v) => Some(match node.meta().snapshot_value(v) {
            Some(loaded) => loaded,
            None => Value::from(node.value()?.column(v).as_ref()),
        }),
        None => None,
    };
    let mut params = vec![Param::new(key.as_ref(), table.primary_key().name)];
    if let (Some(v), Some(version)) = (table.version, &version) {
        params.push(Param::new(version.as_ref(), table.columns[v].name));
    }
    let deleted = match &version {
        Some(version) => conn.because(
            false,
            || version_check(version),
            || conn.execute(&sql, &params, table.name),
        )?,
        None => conn.execute(&sql, &params, table.name)?,
    };
    if deleted == 0 {
        return Err(stale(table, &key));
    }
    Ok(())
}

/// The part of a cause that says a statement checks the row's version.
fn version_check(version: &Value) -> String {
    format!("version check ({})", render(version))
}

/// Inserts (`insert`) or deletes one link row of a many-to-many
/// relationship, with the keys its two ends have now.
pub(crate) fn link_row(
    conn: &Conn,
    table: &'static str,
    ends: [(&'static str, &Rc<dyn AnyNode>); 2],
    insert: bool,
) -> Result<()> {
    let [(a, first), (b, second)] = ends;
    let (first, second) = (first.key_value()?, second.key_value()?);
    conn.execute(
        &text::link(table, [a, b], insert, conn.dialect()),
        &[
            Param::new(first.as_ref(), a),
            Param::new(second.as_ref(), b),
        ],
        table,
    )?;
    Ok(())
}

fn stale(table: &TableDef, key: &Value) -> Error {
    Error::StaleRow {
        table: table.name.to_owned(),
        key: render(key),
    }
}

/// Stores a new value of the version column.
fn set_version(node: &Rc<dyn AnyNode>, column: usize, version: &Value) -> Result<()> {
    let table = node.table();
    node.value_mut()?
        .set_column(column, version.as_ref())
        .map_err(|e| conversion(table, column, &render(version), e))
}

/// Copies each loaded parent's key into the foreign key pointing at it
/// (a parent inserted earlier in this flush has its key only now).
fn sync_foreign_keys(value: &dyn AnyModel) -> Result<()> {
    let mut result = Ok(());
    value.for_each_relation(&mut |field| {
        if result.is_ok()
            && let Some(fk) = field.as_foreign_key()
        {
            result = fk.sync_key();
        }
    });
    result
}
