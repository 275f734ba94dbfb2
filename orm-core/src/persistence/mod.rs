//! Persistence: the INSERTs of new objects ([`insert`]), the UPDATE and
//! DELETE of one object, the link rows of many-to-many relationships, and
//! the version checks of `#[orm(version)]` (SQLAlchemy's `persistence.py`).
//!
//! Called only by the unit of work, inside its transaction, in the order it
//! decides. Each function reports what it changed in memory (a key SQLite
//! assigned, a version bumped) so that a failed flush can undo exactly that.

mod insert;

pub(crate) use insert::{Inserted, Rows, Stop, insert_all, undo_insert};

use std::rc::Rc;

use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::sql::{Conn, Kind, Param, Sql, render, text};
use crate::state::{AnyModel, AnyNode, columns, conversion};
use crate::value::Value;

fn is_unset(unset: u64, column: usize) -> bool {
    column < 64 && unset & (1 << column) != 0
}

/// The positions of the columns in the bit set `unset`.
fn unset_indexes(table: &TableDef, unset: u64) -> impl Iterator<Item = usize> {
    (0..table.columns.len()).filter(move |&i| is_unset(unset, i))
}

/// UPDATE of the columns that changed since the snapshot, if any. With a
/// version column: `SET version = old + 1 ... WHERE ... AND version = old`.
/// Returns the old version when it bumped one, for [`undo_update`].
pub(crate) fn update(node: &Rc<dyn AnyNode>, conn: &Conn) -> Result<Option<Value>> {
    let table = node.table();
    if !node.meta().has_snapshot() {
        return Ok(None);
    }
    let value = node.value()?;
    let unset = value.unset_columns();
    if unset != 0 {
        return Err(unset_in_database(node, unset));
    }
    sync_foreign_keys(&*value)?;
    let current = columns(table, &*value);
    let pk = table.primary_key;
    // What changed, and the values before it that the statement needs: the
    // key's (an error if it changed) and the version's.
    let (changed, key_before, version_before) = node.meta().with_snapshot(|snapshot| {
        let Some(snapshot) = snapshot else {
            return (Vec::new(), None, None);
        };
        let changed: Vec<usize> = (0..current.len())
            .filter(|&i| current[i] != snapshot[i] && Some(i) != table.version)
            .collect();
        let key_before = changed.contains(&pk).then(|| snapshot[pk].clone());
        let version_before = table.version.map(|v| snapshot[v].clone());
        (changed, key_before, version_before)
    });
    if changed.is_empty() {
        return Ok(None);
    }
    if let Some(before) = key_before {
        return Err(Error::Misuse(crate::error::Misuse::KeyChanged {
            model: table.model,
            from: render(&before),
            to: render(&current[pk]),
        }));
    }
    let versions = match (table.version, version_before) {
        (Some(v), Some(old)) => {
            let next = next_version(table, v, &old)?;
            Some((v, old, next))
        }
        _ => None,
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
    // Past the 64th column the UPDATE is built for this one use (and its
    // statement not kept).
    let (built, once);
    let sql: Sql<'_> = match text::changed_mask(&changed) {
        Some(mask) => {
            built = conn.text(table, Kind::Update(mask));
            Sql::from(&built)
        }
        None => {
            once = text::update_in(table, &changed, conn.dialect());
            Sql::from(&once)
        }
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
    let rows = conn.because(false, cause, || conn.execute(sql, &params, table.name))?;
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
