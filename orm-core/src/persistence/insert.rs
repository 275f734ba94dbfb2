//! The INSERTs of a flush. A run of new objects of one table goes in
//! multi-row INSERTs, up to [`ROWS_PER_INSERT`] rows to an `INSERT ...
//! VALUES (...), (...)`, each object still told the key it got, where that
//! costs less than one INSERT per row (SQLAlchemy's "insertmanyvalues"):
//! on SQLite for runs that fill [`STATEMENTS_FROM`] statements, the rows
//! left over one per INSERT; on PostgreSQL, where each statement is a round
//! trip, wherever it takes fewer statements.
//!
//! Keys SQLite assigns (an `INTEGER PRIMARY KEY` left NULL) are the hard
//! part: after a multi-row INSERT SQLite reports only the last one. It
//! gives each new row the largest rowid plus one, so the rows of one
//! statement get consecutive keys in the order of their `VALUES`. The
//! flush reads the largest key first, and checks after each statement that
//! the last key is that plus the number of rows. If it is not (an
//! `AUTOINCREMENT` counter past the largest row, a trigger inserting into
//! the same table), which key went to which object is unknown: the run
//! stops with [`Stop::RowByRow`], and the session runs the flush again with
//! one row per INSERT. PostgreSQL takes the keys from the key's sequence
//! first, and the INSERT carries them (`OVERRIDING SYSTEM VALUE`, for an
//! identity column `GENERATED ALWAYS`); a key with no sequence of its own
//! goes one row per INSERT, read back with `RETURNING`, and a sequence the
//! session may not use (`nextval` refused) makes the flush run again one
//! row per INSERT.

use std::rc::Rc;

use super::{is_unset, set_version, sync_foreign_keys, unset_indexes};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::schema::TableDef;
use crate::sql::{Batch, Conn, Kind, Param, render};
use crate::state::{AnyNode, conversion};
use crate::value::{Bound, Row, Value, ValueRef};

/// Rows per multi-row INSERT. Past about this many, more rows per
/// statement save no more per row (SQLite, 10,000 rows: about 1,070 of
/// 3,550 instructions a row saved with 32 rows, as with 64; 600 with 8).
pub(crate) const ROWS_PER_INSERT: usize = 32;

/// The fewest multi-row INSERTs a run must fill to take them. Preparing a
/// statement costs about 2,800 instructions per row it holds, and each use
/// saves about 1,000 per row: on a connection that has not prepared it yet,
/// a multi-row statement pays for itself on its third use. Smaller runs go
/// one row per INSERT, as do the rows left over after the full statements.
/// (On PostgreSQL the round trip a statement costs decides instead.)
const STATEMENTS_FROM: usize = 4;

/// The most parameters one statement may bind: SQLite's limit (PostgreSQL
/// allows 65,535).
const MAX_PARAMS: usize = 32_766;

/// Why a run of inserts stopped before its end.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A statement failed.
    Failed(Error),
    /// The flush has to run again with one row per INSERT: the keys SQLite
    /// gave the rows of a multi-row INSERT were not consecutive, or
    /// PostgreSQL refused to hand out keys from the sequence.
    RowByRow,
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Failed(error)
    }
}

impl Stop {
    /// The error to report. `RowByRow` is one only where the flush already
    /// ran one row per INSERT, which never stops so.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Stop::Failed(error) => error,
            Stop::RowByRow => Error::Unsupported {
                what: "a flush that multi-row INSERTs could not write",
                detail: "even one row per INSERT",
            },
        }
    }
}

/// Whether a flush may put many rows into one INSERT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Many rows per INSERT where that is fewer statements.
    Many,
    /// One row per INSERT (after [`Stop::RowByRow`]).
    One,
}

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

/// Inserts `nodes`, new objects of one table in flush order, reporting
/// each one written to `done`. On failure the objects reported so far are
/// written and the others are as they were, in memory too.
pub(crate) fn insert_all(
    conn: &Conn,
    nodes: &[Rc<dyn AnyNode>],
    rows: Rows,
    done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
) -> std::result::Result<(), Stop> {
    let Some(first) = nodes.first() else {
        return Ok(());
    };
    let run = Run::new(conn, first.table());
    let mut rest = nodes;
    while !rest.is_empty() {
        let (way, count) = match rows {
            Rows::Many => run.group(rest)?,
            Rows::One => (run.way(&rest[0])?, 1),
        };
        let (group, after) = rest.split_at(count);
        rest = after;
        run.insert_group(way, group, done)?;
    }
    Ok(())
}

/// How one new object is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// With every column, its key among them.
    Given,
    /// With a key the database generates.
    Generated,
    /// Leaving out the columns in the bit set (`Defaulted` fields left
    /// unset; on PostgreSQL also a key to generate), read back with
    /// `RETURNING`: a statement per object.
    Defaults(u64),
}

/// Where the keys of the rows of multi-row INSERTs come from.
enum Keys {
    /// The objects have theirs.
    Given,
    /// SQLite numbers the rows from this largest key on (the key is bound
    /// NULL, and the numbering checked after each statement).
    After(i64),
    /// Taken from the key's sequence beforehand (PostgreSQL), one per row.
    Taken(Vec<i64>),
}

/// A run of inserts into one table, and what is known about the table.
struct Run<'c> {
    conn: &'c Conn,
    table: &'static TableDef,
    /// The key is an `INTEGER PRIMARY KEY`: the database generates it when
    /// the object has none.
    rowid_key: bool,
    /// A foreign key points at the table itself: a new row may need the key
    /// of another row of the same run.
    self_referencing: bool,
}

impl<'c> Run<'c> {
    fn new(conn: &'c Conn, table: &'static TableDef) -> Self {
        Run {
            conn,
            table,
            rowid_key: table.primary_key().is_rowid_alias(),
            // By name: a table's metadata is a `const`, with no one address.
            self_referencing: table.columns.iter().any(|c| {
                c.references
                    .is_some_and(|r| (r.target)().name == table.name)
            }),
        }
    }

    fn way(&self, node: &Rc<dyn AnyNode>) -> Result<Way> {
        let value = node.value()?;
        let generated = self.rowid_key && value.key_unassigned();
        Ok(match (value.unset_columns(), generated) {
            (0, false) => Way::Given,
            (0, true) => Way::Generated,
            (unset, false) => Way::Defaults(unset),
            (unset, true) => Way::Defaults(unset | self.generated_key_bit()?),
        })
    }

    /// The key's column among those an INSERT leaves to the database and
    /// reads back: on PostgreSQL, whose identity column takes its value when
    /// left out and says which through `RETURNING`, as a default does.
    fn generated_key_bit(&self) -> Result<u64> {
        match self.conn.dialect() {
            Backend::Sqlite => Ok(0),
            Backend::Postgres => key_bit(self.table),
        }
    }

    /// The first objects of `rest` that can share multi-row INSERTs: those
    /// inserted the same way, up to one that needs a key the database has
    /// yet to generate for one of them.
    fn group(&self, rest: &[Rc<dyn AnyNode>]) -> Result<(Way, usize)> {
        let way = self.way(&rest[0])?;
        if matches!(way, Way::Defaults(_)) {
            return Ok((way, 1));
        }
        let mut count = 1;
        while let Some(node) = rest.get(count) {
            if self.way(node)? != way || (way == Way::Generated && self.waits_for_key(node)?) {
                break;
            }
            count += 1;
        }
        Ok((way, count))
    }

    /// Whether `node` points at a parent still without a key: one of the
    /// run before it (parents are inserted first), whose key is generated
    /// only with its INSERT.
    fn waits_for_key(&self, node: &Rc<dyn AnyNode>) -> Result<bool> {
        if !self.self_referencing {
            return Ok(false);
        }
        for parent in node.parents()? {
            if parent.value()?.key_unassigned() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Inserts `group`, objects inserted the same `way`: as many as
    /// [`Run::rows_in_many`] says in multi-row INSERTs (after one read of
    /// keys, where the database generates them), the others one per INSERT.
    fn insert_group(
        &self,
        way: Way,
        group: &[Rc<dyn AnyNode>],
        done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
    ) -> std::result::Result<(), Stop> {
        if let Way::Defaults(unset) = way {
            return self.insert_with_defaults(group, unset, done);
        }
        let per_statement = self.rows_per_insert();
        let (many, rest) = group.split_at(self.rows_in_many(way, group.len(), per_statement));
        let keys = match way {
            _ if many.is_empty() => None,
            Way::Generated => self.new_keys(many.len())?,
            _ => Some(Keys::Given),
        };
        match keys {
            Some(keys) => {
                self.insert_rows(many, &keys, per_statement, done)?;
                self.insert_singly(way, rest, done)
            }
            None => self.insert_singly(way, group, done),
        }
    }

    /// Inserts each of `group` with an INSERT of its own: a generated key
    /// bound NULL on SQLite, left out and read back on PostgreSQL.
    fn insert_singly(
        &self,
        way: Way,
        group: &[Rc<dyn AnyNode>],
        done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
    ) -> std::result::Result<(), Stop> {
        match (way, self.conn.dialect()) {
            (Way::Generated, Backend::Postgres) => {
                self.insert_with_defaults(group, key_bit(self.table)?, done)
            }
            _ => self.insert_each(group, done),
        }
    }

    /// How many of a group of `len` rows go in multi-row INSERTs of
    /// `per_statement` rows, by what a statement costs on the backend.
    /// SQLite: preparing it, so only full statements, and only where the
    /// group fills [`STATEMENTS_FROM`] of them. PostgreSQL: a round trip,
    /// so every row wherever that takes fewer statements than one per row
    /// (counting the one that takes generated keys), the last statement
    /// holding what is left.
    fn rows_in_many(&self, way: Way, len: usize, per_statement: usize) -> usize {
        match self.conn.dialect() {
            Backend::Sqlite if len >= STATEMENTS_FROM * per_statement => {
                len / per_statement * per_statement
            }
            Backend::Sqlite => 0,
            Backend::Postgres => {
                let statements = len.div_ceil(per_statement) + usize::from(way == Way::Generated);
                if statements < len { len } else { 0 }
            }
        }
    }

    /// Rows per multi-row INSERT into this table: [`ROWS_PER_INSERT`], or
    /// fewer where the parameters would pass [`MAX_PARAMS`].
    fn rows_per_insert(&self) -> usize {
        let columns = self.table.columns.len().max(1);
        ROWS_PER_INSERT.min(MAX_PARAMS / columns).max(1)
    }

    /// Inserts each of `group` with an INSERT of its own, through one
    /// prepared statement (a generated key bound NULL, for SQLite).
    fn insert_each(
        &self,
        group: &[Rc<dyn AnyNode>],
        done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
    ) -> std::result::Result<(), Stop> {
        let sql = self.conn.text(self.table, Kind::Insert(1));
        let mut batch = self.conn.batch(&sql, self.table.name)?;
        for node in group {
            done(node, insert_one(node, &mut batch, self.rowid_key)?);
        }
        Ok(())
    }

    /// Inserts each of `group` leaving the columns in `unset` to the
    /// database, and reads back what it chose.
    #[cold]
    fn insert_with_defaults(
        &self,
        group: &[Rc<dyn AnyNode>],
        unset: u64,
        done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
    ) -> std::result::Result<(), Stop> {
        for node in group {
            let version_started = start_version(node)?;
            let inserted =
                defaults::insert_defaults(node, self.conn, self.rowid_key, version_started, unset)?;
            done(node, inserted);
        }
        Ok(())
    }

    /// The keys of `count` new rows: on SQLite the largest key so far (0
    /// in an empty table), from which it will number them, or `None` if
    /// they would pass the largest possible key (SQLite then picks keys at
    /// random); on PostgreSQL, `count` keys taken from the key's sequence,
    /// or `None` for a key without a sequence of its own (a default that is
    /// no identity or serial column's).
    ///
    /// # Errors
    /// On PostgreSQL, a refusal (no right to use the sequence) stops with
    /// [`Stop::RowByRow`]: an INSERT that leaves the key out needs no such
    /// right. It ends the transaction, so the flush has to start over.
    fn new_keys(&self, count: usize) -> std::result::Result<Option<Keys>, Stop> {
        let table = self.table;
        let sql = self.conn.text(table, Kind::NewKeys);
        let wanted = i64::try_from(count).map_err(|_| key_out_of_range(table, i64::MAX))?;
        let params: Vec<Param<'_>> = match self.conn.dialect() {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres => vec![Param::new(ValueRef::Integer(wanted), "count")],
        };
        let mut keys = Vec::new();
        let read = self.conn.because(
            false,
            || format!("keys for {count} new rows"),
            || {
                self.conn.query(&sql, &params, table.name, |row| {
                    let key = row
                        .value(0)
                        .map_err(|e| conversion(table, table.primary_key, "(new)", e))?;
                    keys.push(Value::from(key));
                    Ok(())
                })
            },
        );
        match (read, self.conn.dialect()) {
            (Ok(()), _) => {}
            (Err(_), Backend::Postgres) => return Err(Stop::RowByRow),
            (Err(error), Backend::Sqlite) => return Err(error.into()),
        }
        match self.conn.dialect() {
            Backend::Sqlite => {
                let largest = match keys.first() {
                    None | Some(Value::Null) => 0,
                    Some(Value::Integer(key)) => *key,
                    Some(other) => return Err(not_a_key(table, other).into()),
                };
                Ok(largest.checked_add(wanted).map(|_| Keys::After(largest)))
            }
            Backend::Postgres => {
                let mut taken = Vec::with_capacity(count);
                for key in keys {
                    match key {
                        // `pg_get_serial_sequence` found no sequence.
                        Value::Null => return Ok(None),
                        Value::Integer(key) => taken.push(key),
                        other => return Err(not_a_key(table, &other).into()),
                    }
                }
                if taken.len() != count {
                    return Ok(None);
                }
                Ok(Some(Keys::Taken(taken)))
            }
        }
    }

    /// Inserts `group` by multi-row INSERTs of `per_statement` rows, with
    /// `keys`.
    fn insert_rows(
        &self,
        group: &[Rc<dyn AnyNode>],
        keys: &Keys,
        per_statement: usize,
        done: &mut dyn FnMut(&Rc<dyn AnyNode>, Inserted),
    ) -> std::result::Result<(), Stop> {
        for (i, rows) in group.chunks(per_statement).enumerate() {
            let mut inserted = Vec::with_capacity(rows.len());
            if let Err(stop) = self.insert_statement(rows, keys, i * per_statement, &mut inserted) {
                for (node, inserted) in rows.iter().zip(inserted) {
                    undo_insert(node, inserted);
                }
                return Err(stop);
            }
            for (node, inserted) in rows.iter().zip(inserted) {
                done(node, inserted);
            }
        }
        Ok(())
    }

    /// One multi-row INSERT of `rows`, the rows from `offset` on of their
    /// group (which `keys` is for), noting in `inserted` what it changed in
    /// memory, object by object, so that a failure can be undone.
    fn insert_statement(
        &self,
        rows: &[Rc<dyn AnyNode>],
        keys: &Keys,
        offset: usize,
        inserted: &mut Vec<Inserted>,
    ) -> std::result::Result<(), Stop> {
        let table = self.table;
        for node in rows {
            inserted.push(Inserted {
                assigned_key: false,
                version_started: start_version(node)?,
                defaults_read: 0,
            });
        }
        if let Keys::Taken(keys) = keys {
            let keys = keys.get(offset..).unwrap_or_default();
            for ((node, &key), inserted) in rows.iter().zip(keys).zip(inserted.iter_mut()) {
                set_key(node, key)?;
                inserted.assigned_key = true;
            }
        }
        let values = rows
            .iter()
            .map(|node| node.value())
            .collect::<Result<Vec<_>>>()?;
        for value in &values {
            sync_foreign_keys(&**value)?;
        }
        let kind = match keys {
            Keys::Taken(_) => Kind::InsertTakenKeys(rows.len()),
            Keys::Given | Keys::After(_) => Kind::Insert(rows.len()),
        };
        let sql = self.conn.text(table, kind);
        let mut batch = self.conn.batch(&sql, table.name)?;
        let columns = table.columns.len();
        let null_key = matches!(keys, Keys::After(_));
        let written = batch.execute_each(rows.len() * columns, |i| {
            let (row, column) = (i / columns, i % columns);
            let bound = if null_key && column == table.primary_key {
                Bound::Ref(ValueRef::Null)
            } else {
                values[row].column(column)
            };
            (bound, table.columns[column].name)
        })?;
        drop(values);
        if written != rows.len() {
            // A conflict clause of the table's own skipped rows: which ones
            // is unknown.
            return Err(Stop::RowByRow);
        }
        if let Keys::After(largest) = keys {
            // `offset` rows of the group are in already, numbered 1 on.
            let first = largest + offset as i64 + 1;
            if batch.last_insert_rowid()? != first + rows.len() as i64 - 1 {
                return Err(Stop::RowByRow);
            }
            for ((key, node), inserted) in (first..).zip(rows).zip(inserted.iter_mut()) {
                set_key(node, key)?;
                inserted.assigned_key = true;
            }
        }
        Ok(())
    }
}

/// Gives `node` the key the database generated for it.
fn set_key(node: &Rc<dyn AnyNode>, key: i64) -> Result<()> {
    if node.value_mut()?.set_rowid(Some(key)) {
        Ok(())
    } else {
        Err(key_out_of_range(node.table(), key))
    }
}

/// Inserts `node` with an INSERT of its own through `batch` (the table's
/// prepared one-row INSERT), after copying each parent's key into its
/// foreign key. `rowid_key`: the table's key is an `INTEGER PRIMARY KEY`.
/// On failure it undoes what it changed in memory.
fn insert_one(node: &Rc<dyn AnyNode>, batch: &mut Batch<'_>, rowid_key: bool) -> Result<Inserted> {
    let mut inserted = Inserted {
        assigned_key: false,
        version_started: start_version(node)?,
        defaults_read: 0,
    };
    let outcome = write_one(node, batch, rowid_key, &mut inserted);
    if outcome.is_err() {
        undo_insert(node, inserted);
    }
    outcome.map(|()| inserted)
}

/// The steps of [`insert_one`], noting in `inserted` what they changed.
fn write_one(
    node: &Rc<dyn AnyNode>,
    batch: &mut Batch<'_>,
    rowid_key: bool,
    inserted: &mut Inserted,
) -> Result<()> {
    let table = node.table();
    let value = node.value()?;
    let assigned_key = rowid_key && value.key_unassigned();
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
        inserted.assigned_key = true;
    }
    Ok(())
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
#[inline]
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
