//! Persistence: the INSERT, UPDATE and DELETE of one object, the link rows
//! of many-to-many relationships, and the version checks of
//! `#[orm(version)]` (SQLAlchemy's `persistence.py`).
//!
//! Called only by the unit of work, inside its transaction, in the order it
//! decides. Each function reports what it changed in memory (a key SQLite
//! assigned, a version bumped) so that a failed flush can undo exactly that.

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::sql::{Batch, Conn, Kind, Param, render, text};
use crate::state::{AnyModel, AnyNode, columns, conversion};
use crate::value::{Bound, Value, ValueRef};

/// What an INSERT changed in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inserted {
    /// SQLite assigned the key (an `INTEGER PRIMARY KEY` left unset).
    pub assigned_key: bool,
    /// The version column was unset (0) and now starts at 1.
    pub version_started: bool,
}

/// Inserts `node` through `batch` (the table's prepared INSERT), after
/// copying each parent's key into its foreign key. `rowid_key`: the table's
/// key is an `INTEGER PRIMARY KEY` (worked out once per batch).
pub(crate) fn insert(
    node: &Rc<dyn AnyNode>,
    batch: &mut Batch<'_>,
    rowid_key: bool,
) -> Result<Inserted> {
    let table = node.table();
    let version_started = match table.version {
        Some(v) if node.value()?.column(v).as_ref() == ValueRef::Integer(0) => {
            set_version(node, v, &Value::Integer(1))?;
            true
        }
        _ => false,
    };
    let value = node.value()?;
    sync_foreign_keys(&*value)?;
    let assigned_key = rowid_key && value.key_unassigned();
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
        let rowid = batch.last_insert_rowid();
        if !node.value_mut()?.set_rowid(Some(rowid)) {
            return Err(Error::OutOfRange {
                what: format!("`{}`.`{}`", table.name, table.primary_key().name),
                value: rowid.to_string(),
                limit: "SQLite assigned a key the field's type cannot hold; use i64".to_owned(),
            });
        }
    }
    Ok(Inserted {
        assigned_key,
        version_started,
    })
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
        None => text::update(table, &changed).into(),
    };
    let rows = conn.execute(&sql, &params, table.name)?;
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
    if conn.execute(&sql, &params, table.name)? == 0 {
        return Err(stale(table, &key));
    }
    Ok(())
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
        &text::link(table, [a, b], insert),
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
