//! Objects: how a loaded row is held, shared, borrowed and changed.
//!
//! Each row a session knows lives in one [`Node`] behind an `Rc`; a
//! [`Handle`] is a counted reference to it, so two handles to one row are
//! the same object (`Handle::ptr_eq`). Field access goes through
//! [`Handle::read`] and [`Handle::write`], which return an error instead of
//! panicking when the borrow conflicts. `write` is also where dirty tracking
//! starts: the first mutable access of a persistent object copies its column
//! values (the snapshot an UPDATE is later diffed against), so objects that
//! are only read cost nothing.
//!
//! Does not know about other objects; relationships live in `relation`.

use std::any::Any;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::{Rc, Weak};

use rusqlite::types::Value;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::relation::Owner;
use crate::schema::{OnDelete, TableDef};
use crate::session::SessionInner;
use crate::sql::{Batch, Conn, Kind, Param, owned_value, quote, render};

/// Where an object stands with respect to its session and the database
/// (SQLAlchemy's object states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not in any session and not in the database.
    Transient,
    /// Added to a session; inserted by the next flush.
    Pending,
    /// In the session's identity map, with a row in the database.
    Persistent,
    /// Marked for deletion (or deleted by a flush not yet committed).
    Deleted,
    /// Was persistent, but its session is gone or let it go.
    Detached,
}

/// Change tracking of one object: empty (one null pointer) until its first
/// change, so objects that are only read cost no memory for it.
#[derive(Debug, Default)]
struct Tracking(Option<Box<Saved>>);

/// The column values an object had, kept while it has changes.
#[derive(Debug, Default)]
struct Saved {
    /// Column values as the database holds them now, taken on first write
    /// since the last load or flush. `None`: unchanged since then.
    snapshot: Option<Box<[Value]>>,
    /// Column values as of the start of the transaction, kept once a flush
    /// has written this object, so that rollback can restore them.
    before_transaction: Option<Box<[Value]>>,
}

/// What an object without changes has saved: nothing.
static NOTHING_SAVED: Saved = Saved {
    snapshot: None,
    before_transaction: None,
};

impl Deref for Tracking {
    type Target = Saved;
    fn deref(&self) -> &Saved {
        self.0.as_deref().unwrap_or(&NOTHING_SAVED)
    }
}

impl DerefMut for Tracking {
    fn deref_mut(&mut self) -> &mut Saved {
        self.0.get_or_insert_default()
    }
}

impl Tracking {
    /// Frees the saved values once there are none left.
    fn tidy(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|s| s.snapshot.is_none() && s.before_transaction.is_none())
        {
            self.0 = None;
        }
    }
}

/// One object of a session: the user's struct plus what the session knows
/// about it.
pub struct Node<T: Model> {
    value: RefCell<T>,
    state: Cell<State>,
    tracking: RefCell<Tracking>,
    session: RefCell<Weak<SessionInner>>,
    /// Whether the object waits in the session's dirty list.
    listed_dirty: Cell<bool>,
}

impl<T: Model> Node<T> {
    /// Makes the node and wires its relationship fields to it, so that they
    /// know their owner from the start.
    pub(crate) fn new(value: T, state: State) -> Rc<Node<T>> {
        Rc::new_cyclic(|me: &Weak<Node<T>>| {
            let erased: Weak<dyn AnyNode> = me.clone();
            value.wire(&Owner::new(erased));
            Node {
                value: RefCell::new(value),
                state: Cell::new(state),
                tracking: RefCell::new(Tracking::default()),
                session: RefCell::new(Weak::new()),
                listed_dirty: Cell::new(false),
            }
        })
    }

    pub(crate) fn borrow(&self) -> Result<Ref<'_, T>> {
        self.value
            .try_borrow()
            .map_err(|_| self.borrow_error("it is being written"))
    }

    fn borrow_mut(&self) -> Result<RefMut<'_, T>> {
        self.value
            .try_borrow_mut()
            .map_err(|_| self.borrow_error("it is being read or written elsewhere"))
    }

    fn borrow_error(&self, detail: &str) -> Error {
        Error::Borrowed {
            table: T::TABLE.name.to_owned(),
            key: "(unknown while borrowed)".to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// Joins a session.
    pub(crate) fn attach(&self, session: &Rc<SessionInner>) {
        *self.session.borrow_mut() = Rc::downgrade(session);
    }

    pub(crate) fn session_rc(&self) -> Option<Rc<SessionInner>> {
        self.session.borrow().upgrade()
    }

    pub(crate) fn key(&self) -> Result<T::Key> {
        Ok(self.borrow()?.key())
    }

    fn columns(value: &T) -> Box<[Value]> {
        (0..T::TABLE.columns.len())
            .map(|i| owned_value(value.column(i)))
            .collect()
    }

    /// Takes the snapshot if this is the first change since load or flush,
    /// and puts the object on its session's dirty list.
    fn track(self: &Rc<Self>, value: &T) {
        // Deleted objects too: a rollback brings them back with their values.
        if !matches!(self.state.get(), State::Persistent | State::Deleted) {
            return;
        }
        let mut tracking = self.tracking.borrow_mut();
        if tracking.snapshot.is_none() {
            tracking.snapshot = Some(Self::columns(value));
        }
        drop(tracking);
        if !self.listed_dirty.replace(true)
            && let Some(session) = self.session_rc()
        {
            session.mark_dirty(self.clone());
        }
    }

    /// Replaces the object's values with a row just read, unless it has
    /// unflushed changes (those win, as design point 3 requires).
    pub(crate) fn refresh_from(&self, fresh: T) -> Result<()> {
        if self.tracking.borrow().snapshot.is_some() || self.state.get() != State::Persistent {
            return Ok(());
        }
        let mut value = self.borrow_mut()?;
        let key = render(&owned_value(&fresh.key()));
        for i in 0..T::TABLE.columns.len() {
            let v = owned_value(fresh.column(i));
            value
                .set_column(i, (&v).into())
                .map_err(|e| conversion(T::TABLE, i, &key, e))?;
        }
        Ok(())
    }

    /// Forgets unflushed changes (the values stay until overwritten).
    pub(crate) fn discard_changes(&self) {
        let mut tracking = self.tracking.borrow_mut();
        if tracking.0.is_some() {
            tracking.snapshot = None;
            tracking.tidy();
        }
    }

    fn restore(&self, values: &[Value]) -> Result<()> {
        let mut value = self.borrow_mut()?;
        let key = render(&values[T::TABLE.primary_key]);
        for (i, v) in values.iter().enumerate() {
            value
                .set_column(i, v.into())
                .map_err(|e| conversion(T::TABLE, i, &key, e))?;
        }
        Ok(())
    }

    /// Stores a new value of the version column (after the database took it).
    fn set_version(&self, column: usize, version: &Value) -> Result<()> {
        let key = render(version);
        self.borrow_mut()?
            .set_column(column, version.into())
            .map_err(|e| conversion(T::TABLE, column, &key, e))
    }

    /// Forgets all change tracking: the object left the database's view.
    fn forget_changes(&self) {
        self.tracking.borrow_mut().0 = None;
    }
}

fn conversion(
    table: &TableDef,
    column: usize,
    key: &str,
    err: rusqlite::types::FromSqlError,
) -> Error {
    Error::Conversion {
        table: table.name.to_owned(),
        column: table.columns[column].name.to_owned(),
        key: key.to_owned(),
        detail: err.to_string(),
    }
}

/// What the session and the unit of work need from an object of any model.
pub(crate) trait AnyNode: Any {
    fn table(&self) -> &'static TableDef;
    fn state(&self) -> State;
    fn set_state(&self, state: State);
    fn session(&self) -> Option<Rc<SessionInner>>;
    fn set_session(&self, session: &Rc<SessionInner>);
    fn detach(&self);
    fn key_value(&self) -> Result<Value>;
    /// Marks the object changed through a relationship (its foreign key).
    fn touch(self: Rc<Self>) -> Result<()>;
    fn clear_dirty_flag(&self);
    /// The loaded objects this one's foreign keys point to.
    fn parents(&self) -> Result<Vec<Rc<dyn AnyNode>>>;
    /// INSERT through `batch` (the table's prepared INSERT); returns whether
    /// SQLite assigned the key.
    fn insert(&self, batch: &mut Batch<'_>) -> Result<bool>;
    /// UPDATE of the changed columns, if any.
    fn update(&self, conn: &Conn) -> Result<()>;
    fn delete(&self, conn: &Conn) -> Result<()>;
    /// Undoes an insert that was rolled back: forgets the assigned key.
    fn forget_key(&self, assigned: bool);
    /// After a successful flush: the database now holds the current values.
    fn flushed(&self);
    /// After commit: nothing to restore any more.
    fn committed(&self);
    /// After rollback: the values of the start of the transaction come back.
    fn rolled_back(&self) -> Result<()>;
    /// Whether changed columns wait for a flush.
    fn has_changes(&self) -> bool;
    /// Whether a changed column is set to NULL (a key let go).
    fn releases(&self) -> bool;
    fn expire_relations(&self);
    /// Empties its collections, loaded: it is new again after a rollback.
    fn reset_relations(&self);
    /// Whether the `BelongsTo` field `field` points at no parent.
    fn orphaned(&self, field: &str) -> Result<bool>;
    /// Follows the `ON DELETE` of each foreign key pointing at a deleted
    /// `(table, key)`: `Cascade` means this object is gone too; `SetNull`
    /// clears the key here (the database already did).
    fn parent_deleted(&self, deleted: &[(&'static str, Value)]) -> Result<Option<OnDelete>>;
    fn register(self: Rc<Self>, session: &SessionInner) -> Result<()>;
    /// Re-reads the row (after a rollback); false if it is gone.
    fn reread(&self, session: &SessionInner) -> Result<bool>;
    fn unregister(&self, session: &SessionInner) -> Result<()>;
}

impl<T: Model> AnyNode for Node<T> {
    fn table(&self) -> &'static TableDef {
        T::TABLE
    }

    fn state(&self) -> State {
        self.state.get()
    }

    fn set_state(&self, state: State) {
        self.state.set(state);
    }

    fn session(&self) -> Option<Rc<SessionInner>> {
        self.session_rc()
    }

    fn set_session(&self, session: &Rc<SessionInner>) {
        self.attach(session);
    }

    fn detach(&self) {
        *self.session.borrow_mut() = Weak::new();
    }

    fn key_value(&self) -> Result<Value> {
        Ok(owned_value(&self.borrow()?.key()))
    }

    fn touch(self: Rc<Self>) -> Result<()> {
        let value = self.borrow()?;
        self.track(&value);
        Ok(())
    }

    fn clear_dirty_flag(&self) {
        self.listed_dirty.set(false);
    }

    fn parents(&self) -> Result<Vec<Rc<dyn AnyNode>>> {
        let mut parents = Vec::new();
        self.borrow()?.for_each_relation(&mut |field| {
            if let Some(parent) = field.parent() {
                parents.push(parent.0);
            }
        });
        Ok(parents)
    }

    fn insert(&self, batch: &mut Batch<'_>) -> Result<bool> {
        let table = T::TABLE;
        if let Some(v) = table.version {
            let unset = owned_value(self.borrow()?.column(v)) == Value::Integer(0);
            if unset {
                self.set_version(v, &Value::Integer(1))?;
            }
        }
        let value = self.borrow()?;
        sync_foreign_keys(&*value)?;
        let auto = table.primary_key().is_rowid_alias() && value.key_unassigned();
        let null: Option<i64> = None;
        batch.execute_each(table.columns.len(), |i| {
            let value: &dyn rusqlite::ToSql = if auto && i == table.primary_key {
                &null
            } else {
                value.column(i)
            };
            Param::new(value, table.columns[i].name)
        })?;
        drop(value);
        if auto {
            self.borrow_mut()?
                .set_rowid(Some(batch.last_insert_rowid()));
        }
        Ok(auto)
    }

    fn update(&self, conn: &Conn) -> Result<()> {
        let table = T::TABLE;
        let value = self.borrow()?;
        sync_foreign_keys(&*value)?;
        let tracking = self.tracking.borrow();
        let Some(snapshot) = &tracking.snapshot else {
            return Ok(());
        };
        let current = Self::columns(&value);
        let changed: Vec<usize> = (0..current.len())
            .filter(|&i| current[i] != snapshot[i] && Some(i) != table.version)
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let key = value.key();
        if changed.contains(&table.primary_key) {
            return Err(Error::Misuse(format!(
                "the primary key of a `{}` row changed from {} to {}; keys cannot change: delete the object and add a new one",
                table.model,
                render(&snapshot[table.primary_key]),
                render(&current[table.primary_key])
            )));
        }
        // With a version column: SET version = old + 1 ... AND version = old.
        let versions = table.version.map(|v| {
            let old = snapshot[v].clone();
            let next = match &old {
                Value::Integer(n) => Value::Integer(n + 1),
                _ => Value::Integer(1),
            };
            (v, old, next)
        });
        let mut params: Vec<Param<'_>> = changed
            .iter()
            .map(|&i| Param::new(value.column(i), table.columns[i].name))
            .collect();
        if let Some((v, _, next)) = &versions {
            params.push(Param::new(next, table.columns[*v].name));
        }
        params.push(Param::new(&key, table.primary_key().name));
        if let Some((v, old, _)) = &versions {
            params.push(Param::new(old, table.columns[*v].name));
        }
        let sql = match changed_mask(&changed) {
            Some(mask) => conn.text(table, Kind::Update(mask), || update_sql(table, &changed)),
            None => update_sql(table, &changed).into(),
        };
        let rows = conn.execute(&sql, &params, table.name)?;
        if rows == 0 {
            return Err(Error::StaleRow {
                table: table.name.to_owned(),
                key: render(&owned_value(&key)),
            });
        }
        drop(params);
        drop(tracking);
        drop(value);
        if let Some((v, _, next)) = versions {
            self.set_version(v, &next)?;
        }
        Ok(())
    }

    fn delete(&self, conn: &Conn) -> Result<()> {
        let table = T::TABLE;
        let key = self.key()?;
        let sql = conn.text(table, Kind::Delete, || {
            let mut sql = format!(
                "DELETE FROM {} WHERE {} = ?",
                quote(table.name),
                quote(table.primary_key().name)
            );
            if let Some(v) = table.version {
                sql.push_str(&format!(" AND {} = ?", quote(table.columns[v].name)));
            }
            sql
        });
        // The version the database should still hold: as loaded.
        let version = table.version.map(|v| {
            let tracking = self.tracking.borrow();
            match tracking.snapshot.as_ref() {
                Some(snapshot) => snapshot[v].clone(),
                None => self
                    .borrow()
                    .map(|value| owned_value(value.column(v)))
                    .unwrap_or(Value::Null),
            }
        });
        let mut params = vec![Param::new(&key, table.primary_key().name)];
        if let (Some(v), Some(version)) = (table.version, &version) {
            params.push(Param::new(version, table.columns[v].name));
        }
        let rows = conn.execute(&sql, &params, table.name)?;
        if rows == 0 {
            return Err(Error::StaleRow {
                table: table.name.to_owned(),
                key: render(&owned_value(&key)),
            });
        }
        Ok(())
    }

    fn forget_key(&self, assigned: bool) {
        if assigned && let Ok(mut value) = self.borrow_mut() {
            value.set_rowid(None);
        }
        self.forget_changes();
    }

    fn flushed(&self) {
        let mut tracking = self.tracking.borrow_mut();
        if tracking.0.is_none() {
            return;
        }
        if let Some(snapshot) = tracking.snapshot.take() {
            tracking.before_transaction.get_or_insert(snapshot);
        }
        tracking.tidy();
    }

    fn committed(&self) {
        let mut tracking = self.tracking.borrow_mut();
        if tracking.0.is_some() {
            tracking.before_transaction = None;
            tracking.tidy();
        }
    }

    fn rolled_back(&self) -> Result<()> {
        let Some(saved) = self.tracking.borrow_mut().0.take() else {
            return Ok(());
        };
        let Saved {
            before_transaction: before,
            snapshot,
        } = *saved;
        if let Some(values) = before.or(snapshot) {
            self.restore(&values)?;
        }
        Ok(())
    }

    fn has_changes(&self) -> bool {
        let tracking = self.tracking.borrow();
        let Some(snapshot) = &tracking.snapshot else {
            return false;
        };
        match self.borrow() {
            Ok(value) => *Self::columns(&value) != **snapshot,
            // Being written right now: assume it changed.
            Err(_) => true,
        }
    }

    fn releases(&self) -> bool {
        let tracking = self.tracking.borrow();
        let (Some(snapshot), Ok(value)) = (&tracking.snapshot, self.borrow()) else {
            return false;
        };
        Self::columns(&value)
            .iter()
            .zip(snapshot.iter())
            .any(|(now, before)| *now == Value::Null && *before != Value::Null)
    }

    fn reset_relations(&self) {
        if let Ok(value) = self.borrow() {
            value.for_each_relation(&mut |field| field.reset_empty());
        }
    }

    fn expire_relations(&self) {
        if let Ok(value) = self.borrow() {
            value.for_each_relation(&mut |field| field.expire());
        }
    }

    fn orphaned(&self, field: &str) -> Result<bool> {
        let mut orphaned = false;
        self.borrow()?
            .for_each_relation(&mut |relation| orphaned |= relation.orphaned(field) == Some(true));
        Ok(orphaned)
    }

    fn parent_deleted(&self, deleted: &[(&'static str, Value)]) -> Result<Option<OnDelete>> {
        let value = self.borrow()?;
        let mut outcome = None;
        for (i, column) in T::TABLE.columns.iter().enumerate() {
            let Some(fk) = column.references else {
                continue;
            };
            let target = (fk.target)().name;
            let key = owned_value(value.column(i));
            if key == Value::Null || !deleted.iter().any(|(t, k)| *t == target && *k == key) {
                continue;
            }
            match fk.on_delete {
                OnDelete::Cascade => return Ok(Some(OnDelete::Cascade)),
                OnDelete::SetNull => {
                    let mut tracking = self.tracking.borrow_mut();
                    if tracking.before_transaction.is_none() {
                        tracking.before_transaction = Some(Self::columns(&value));
                    }
                    if let Some(snapshot) = tracking.snapshot.as_mut() {
                        snapshot[i] = Value::Null;
                    }
                    value.for_each_relation(&mut |field| field.clear_key_of(column.field));
                    outcome = Some(OnDelete::SetNull);
                }
                OnDelete::NoAction | OnDelete::Restrict => {}
            }
        }
        Ok(outcome)
    }

    fn reread(&self, session: &SessionInner) -> Result<bool> {
        session.reread(self)
    }

    fn register(self: Rc<Self>, session: &SessionInner) -> Result<()> {
        let key = self.key()?;
        session.identity_mut().insert::<T>(key, self);
        Ok(())
    }

    fn unregister(&self, session: &SessionInner) -> Result<()> {
        let key = self.key()?;
        session.identity_mut().remove::<T>(&key);
        Ok(())
    }
}

fn sync_foreign_keys<T: Model>(value: &T) -> Result<()> {
    let mut result = Ok(());
    value.for_each_relation(&mut |field| {
        if result.is_ok() {
            result = field.sync_key();
        }
    });
    result
}

/// `INSERT INTO "table" (...) VALUES (?, ...)` with every column.
pub(crate) fn insert_sql(table: &TableDef) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    let marks = vec!["?"; columns.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        quote(table.name),
        columns.join(", ")
    )
}

/// The changed columns as a bit set, when they fit in one.
fn changed_mask(changed: &[usize]) -> Option<u64> {
    changed
        .iter()
        .try_fold(0u64, |mask, &i| (i < 64).then(|| mask | (1 << i)))
}

fn update_sql(table: &TableDef, changed: &[usize]) -> String {
    let version = table.version.map(|v| quote(table.columns[v].name));
    let sets: Vec<String> = changed
        .iter()
        .map(|&i| quote(table.columns[i].name))
        .chain(version.clone())
        .map(|column| format!("{column} = ?"))
        .collect();
    let mut sql = format!(
        "UPDATE {} SET {} WHERE {} = ?",
        quote(table.name),
        sets.join(", "),
        quote(table.primary_key().name)
    );
    if let Some(version) = version {
        sql.push_str(&format!(" AND {version} = ?"));
    }
    sql
}

/// A shared handle to one object of a session. Cloning it is cheap, and
/// every handle to the same row of the same session points to the same
/// object: `==` compares identity, not field values.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<User>()?;
/// let session = db.session();
/// let alice = session.add(User::new("Alice"));
/// session.commit()?;
/// let again = session.get::<User>(alice.read()?.id)?;
/// assert_eq!(alice, again); // same object, no SQL was needed
/// again.write()?.name = "Alicia".into();
/// assert_eq!(alice.read()?.name, "Alicia");
/// # Ok(()) }
/// ```
pub struct Handle<T: Model> {
    pub(crate) node: Rc<Node<T>>,
}

impl<T: Model> Handle<T> {
    /// Wraps a new object that belongs to no session yet (transient).
    /// `Session::add` does this for you.
    pub fn new(value: T) -> Handle<T> {
        Handle {
            node: Node::new(value, State::Transient),
        }
    }

    pub(crate) fn from_node(node: Rc<Node<T>>) -> Handle<T> {
        Handle { node }
    }

    /// Borrows the object for reading.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a [`Handle::write`] guard of it is alive.
    pub fn read(&self) -> Result<Ref<'_, T>> {
        self.node.borrow()
    }

    /// Borrows the object for changing its fields. The first write since it
    /// was loaded or flushed remembers its column values, so the next flush
    /// updates exactly the columns that changed.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while another `read` or `write` guard of it is alive.
    pub fn write(&self) -> Result<Write<'_, T>> {
        let value = self.node.borrow_mut()?;
        self.node.track(&value);
        Ok(Write { value })
    }

    /// The object's state in its session.
    pub fn state(&self) -> State {
        let gone = self.node.session.borrow().strong_count() == 0;
        match self.node.state.get() {
            // Never inserted: with its session gone it is just a value again.
            State::Pending if gone => State::Transient,
            State::Persistent | State::Deleted if gone => State::Detached,
            state => state,
        }
    }

    /// The primary key's current value (unassigned until the insert for
    /// database-assigned keys).
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a `write` guard of it is alive.
    pub fn key(&self) -> Result<T::Key> {
        self.node.key()
    }

    /// Whether two handles are the same object.
    pub fn ptr_eq(a: &Handle<T>, b: &Handle<T>) -> bool {
        Rc::ptr_eq(&a.node, &b.node)
    }

    /// What changed in the object since it was loaded or last flushed: for
    /// each changed column, its name, the value in the database and the
    /// current one.
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a `write` guard of it is alive.
    pub fn changes(&self) -> Result<Vec<Change>> {
        let value = self.node.borrow()?;
        let tracking = self.node.tracking.borrow();
        let Some(snapshot) = &tracking.snapshot else {
            return Ok(Vec::new());
        };
        let current = Node::<T>::columns(&value);
        Ok(T::TABLE
            .columns
            .iter()
            .zip(snapshot.iter().zip(current.iter()))
            .filter(|(_, (old, new))| old != new)
            .map(|(column, (old, new))| Change {
                column: column.name,
                database: old.clone(),
                current: new.clone(),
            })
            .collect())
    }
}

/// One changed column of an object: [`Handle::changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The column's name.
    pub column: &'static str,
    /// The value the database holds.
    pub database: Value,
    /// The value the object holds now.
    pub current: Value,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.column,
            render(&self.database),
            render(&self.current)
        )
    }
}

impl<T: Model> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            node: Rc::clone(&self.node),
        }
    }
}

impl<T: Model> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        Handle::ptr_eq(self, other)
    }
}

impl<T: Model> Eq for Handle<T> {}

impl<T: Model + fmt::Debug> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node.value.try_borrow() {
            Ok(value) => value.fmt(f),
            Err(_) => write!(f, "{} (being written)", T::TABLE.model),
        }
    }
}

/// A write guard from [`Handle::write`]: dereferences to the object.
pub struct Write<'a, T: Model> {
    value: RefMut<'a, T>,
}

impl<T: Model> Deref for Write<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Model> DerefMut for Write<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// Turns an erased node back into its model's node.
pub(crate) fn downcast<T: Model>(node: Rc<dyn AnyNode>) -> Option<Rc<Node<T>>> {
    let any: Rc<dyn Any> = node;
    any.downcast::<Node<T>>().ok()
}
