//! A state-machine test: random sequences of session operations (add, get,
//! query, field change, relationship set/push/remove/clear, lazy loads,
//! delete under each `ON DELETE` kind and `delete_orphan`, flush, commit,
//! rollback, savepoints, session drop and reopen) run against the ORM and
//! against a plain in-memory model of what the database and the loaded
//! objects should hold (design points 1-3, 5-7, 9, 11 and 12).
//!
//! Savepoints (`Session::begin_nested`, then the guard's `release` or
//! `rollback`, innermost first) nest. The model keeps a stack of snapshots,
//! one per open savepoint, taken after the flush that `begin_nested` runs:
//! the rows and every object. Rolling back to the innermost one puts the
//! rows back, gives the objects that were in the session at it their state
//! and values back, makes the objects added or inserted since transient
//! (with the values they have) and reads the objects loaded since again;
//! releasing it flushes and keeps everything. A commit while a savepoint
//! is open is a misuse that changes nothing; the session's rollback ends
//! every savepoint; a reopen drops the guards first, innermost first, and
//! each drop rolls back to its savepoint, checked as a rollback is.
//!
//! After every step the test checks, without issuing SQL:
//! - each object's state, key, values and foreign key are the model's;
//! - the identity map holds exactly one object per row (`get` of each loaded
//!   key returns that very object, and `Session::len` counts them);
//! - every loaded collection holds exactly the objects whose foreign key
//!   points at its owner.
//!
//! After every successful commit, rollback and reopen (and a commit refused
//! for an open savepoint) it reads every table through a session of its own
//! and compares the rows with the model's committed ones; after every
//! release of and rollback to a savepoint it reads them through the session
//! itself and compares them with the rows the model has in the open
//! transaction.
//!
//! Each test runs on SQLite and on PostgreSQL. The cases of one test share
//! its database: the tables are created once and emptied per case (the
//! keys PostgreSQL assigns set back to 1). Where the database assigns keys
//! the model follows each backend: SQLite gives a new row the table's
//! largest key plus one, PostgreSQL the next value of the table's sequence,
//! which never goes back (a rolled-back or failed insert uses its value up,
//! whether the transaction or only a savepoint was rolled back).
//! After a flush that failed the model cannot tell how many of its INSERTs
//! ran, so it reads where each PostgreSQL sequence got to (checking it lies
//! within what the flush could have used).
//!
//! The number of sequences is 2,000 on SQLite and 200 on PostgreSQL, times
//! `ORM_PROPTEST_SCALE` (see `common::proptest_cases`), split between the
//! two mixes below. Shrunk failures are kept at the end
//! of this file as tests replaying the exact operations on both backends.

use crate::common;

use std::collections::{BTreeMap, HashMap};

use orm::prelude::*;
use orm::{ConstraintKind, Error, Savepoint, State};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ------------------------------------------------------------------ models

/// The parent of three kinds of children, one per `ON DELETE` behaviour.
#[derive(Model, Debug)]
#[orm(table = "authors")]
pub struct Author {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "author")]
    pub books: HasMany<Book>,
    #[orm(back_populates = "author")]
    pub fans: HasMany<Fan>,
    #[orm(back_populates = "author", delete_orphan)]
    pub notes: HasMany<Note>,
}

/// Required parent, `ON DELETE CASCADE`.
#[derive(Model, Debug)]
#[orm(table = "books")]
pub struct Book {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(on_delete = "cascade", back_populates = "books")]
    pub author: BelongsTo<Author>,
}

/// Optional parent, `ON DELETE SET NULL`.
#[derive(Model, Debug)]
#[orm(table = "fans")]
pub struct Fan {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, on_delete = "set null", back_populates = "fans")]
    pub author: BelongsTo<Author>,
}

/// Optional parent, `ON DELETE RESTRICT`, in a `delete_orphan` collection.
#[derive(Model, Debug)]
#[orm(table = "notes")]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, on_delete = "restrict", back_populates = "notes")]
    pub author: BelongsTo<Author>,
}

// The same tables seen as plain rows, read by a session of their own to
// compare the database with the model.

#[derive(Model, Debug)]
#[orm(table = "authors", skip_new)]
pub struct AuthorRow {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug)]
#[orm(table = "books", skip_new)]
pub struct BookRow {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub author_id: Option<i64>,
}

#[derive(Model, Debug)]
#[orm(table = "fans", skip_new)]
pub struct FanRow {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub author_id: Option<i64>,
}

#[derive(Model, Debug)]
#[orm(table = "notes", skip_new)]
pub struct NoteRow {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub author_id: Option<i64>,
}

/// Two authors, a book and a fan of the first, a book and a note of the
/// second: committed before each sequence, loaded by nothing. The keys are
/// the database's, 1 and up in the order the rows are listed.
const SEED: &str = "
    INSERT INTO authors (name) VALUES ('a1'), ('a2');
    INSERT INTO books (name, author_id) VALUES ('b1', 1), ('b2', 2);
    INSERT INTO fans (name, author_id) VALUES ('f1', 1);
    INSERT INTO notes (name, author_id) VALUES ('n1', 2);
";

/// The tables a test's cases share.
fn setup(db: &Database) -> orm::Result<()> {
    db.create_all::<(Author, Book, Fan, Note)>()
}

/// Empties the tables, sets PostgreSQL's sequences back, and seeds them.
fn reset(db: &Database) -> orm::Result<()> {
    match db.backend() {
        orm::Backend::Postgres => {
            db.execute_batch("TRUNCATE notes, fans, books, authors RESTART IDENTITY CASCADE")?;
        }
        _ => db.execute_batch(
            "DELETE FROM notes; DELETE FROM fans; DELETE FROM books; DELETE FROM authors;",
        )?,
    }
    db.execute_batch(SEED)
}

/// The key each table's sequence gives next after the seed (PostgreSQL).
fn seed_sequences() -> BTreeMap<Kind, i64> {
    BTreeMap::from([
        (Kind::Author, 3),
        (Kind::Book, 3),
        (Kind::Fan, 2),
        (Kind::Note, 2),
    ])
}

fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Author => "authors",
        Kind::Book => "books",
        Kind::Fan => "fans",
        Kind::Note => "notes",
    }
}

/// The key `kind`'s sequence gives next, read through a session of its own
/// (sequences are outside transactions: what another session used shows).
fn next_sequence_value(db: &Database, kind: Kind) -> orm::Result<i64> {
    let sql = format!(
        "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{}', 'id')::regclass), 0) + 1",
        table(kind)
    );
    let values = db.session().sql_values::<i64>(&sql, &[])?;
    Ok(values[0])
}

fn seed_rows() -> Rows {
    let mut rows = Rows::new();
    let mut put = |kind, id, name: &str, fk| {
        rows.insert(
            (kind, id),
            Row {
                name: name.to_owned(),
                fk,
            },
        );
    };
    put(Kind::Author, 1, "a1", None);
    put(Kind::Author, 2, "a2", None);
    put(Kind::Book, 1, "b1", Some(1));
    put(Kind::Book, 2, "b2", Some(2));
    put(Kind::Fan, 1, "f1", Some(1));
    put(Kind::Note, 1, "n1", Some(2));
    rows
}

// ------------------------------------------------------------- operations

/// The four tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Author,
    Book,
    Fan,
    Note,
}

const CHILD_KINDS: [Kind; 3] = [Kind::Book, Kind::Fan, Kind::Note];

/// One step of a sequence. Objects are named by `pick`: an index taken
/// modulo the objects of the fitting kind the sequence has seen so far
/// (a step with nothing to pick is skipped), so that any shrunk sequence
/// still means something.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `session.add(...)`, then for a child `child.author.set(author)`.
    Add {
        kind: Kind,
        name: u8,
        author: Option<usize>,
    },
    /// `session.get::<kind>(id)`.
    Get {
        kind: Kind,
        id: i64,
    },
    /// `session.query::<kind>().all()`.
    Query {
        kind: Kind,
    },
    /// `object.write()?.name = ...`.
    Rename {
        object: usize,
        name: u8,
    },
    /// `child.author.set(&author)`.
    Set {
        child: usize,
        author: usize,
    },
    /// `child.author.clear()`.
    Clear {
        child: usize,
    },
    /// `author.<collection of kind>.push(&child)`.
    Push {
        author: usize,
        kind: Kind,
        child: usize,
    },
    /// `author.<collection of kind>.remove(&child)`.
    Remove {
        author: usize,
        kind: Kind,
        child: usize,
    },
    /// `author.<collection of kind>.load()`.
    LoadChildren {
        author: usize,
        kind: Kind,
    },
    /// `child.author.load_optional()`.
    LoadParent {
        child: usize,
    },
    /// `session.delete(&object)`.
    Delete {
        object: usize,
    },
    Flush,
    Commit,
    Rollback,
    /// `session.begin_nested()`: the guard goes on the runner's stack.
    BeginNested,
    /// The innermost guard's `release()` (skipped with none open).
    ReleaseSavepoint,
    /// The innermost guard's `rollback()` (skipped with none open).
    RollbackSavepoint,
    /// Drops the savepoints' guards (innermost first), the session and
    /// every handle, and opens a new session.
    Reopen,
}

fn name_text(name: u8) -> String {
    // Few names, so that a change often writes back the value the row has.
    format!("v{}", name % 3)
}

// ------------------------------------------------------------------- model

/// What a row holds: its name and, for children, the author's key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    fk: Option<i64>,
}

type Rows = BTreeMap<(Kind, i64), Row>;

/// Where a child's `BelongsTo` points: at an object it holds, or at a key
/// only (a row loaded from the database whose parent was not looked up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    Object(usize),
    Key(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Transient,
    Pending,
    Persistent,
    /// `flushed`: the DELETE ran in the open transaction.
    Deleted {
        flushed: bool,
    },
    Detached,
}

impl Status {
    fn public(self) -> State {
        match self {
            Status::Transient => State::Transient,
            Status::Pending => State::Pending,
            Status::Persistent => State::Persistent,
            Status::Deleted { .. } => State::Deleted,
            Status::Detached => State::Detached,
        }
    }
}

#[derive(Debug, Clone)]
struct Object {
    kind: Kind,
    status: Status,
    id: Option<i64>,
    name: String,
    parent: Option<Parent>,
    /// Its INSERT ran in the open transaction.
    inserted_in_transaction: bool,
    /// Changed while persistent in the open transaction: rollback writes
    /// the committed values back, the foreign key included (the parent
    /// object stays where its key is the committed one).
    touched: bool,
    /// When it last joined its parent's collection: collections list their
    /// members in that order, and a graph joins a session in it.
    linked: usize,
}

/// How an operation is expected to fail.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Misuse,
    SessionClosed,
    NotFound,
    Stale,
    /// The flush fails on one of these constraints (which one comes first
    /// depends on the statement order, which the model does not fix).
    Constraint(Vec<ConstraintKind>),
}

impl Failure {
    fn matches(&self, error: &Error) -> bool {
        match (self, error) {
            (Failure::Misuse, Error::Misuse(_))
            | (Failure::SessionClosed, Error::SessionClosed { .. })
            | (Failure::NotFound, Error::NotFound { .. })
            | (Failure::Stale, Error::StaleRow { .. }) => true,
            (Failure::Constraint(kinds), Error::Constraint { kind, .. }) => kinds.contains(kind),
            _ => false,
        }
    }
}

/// The plain model: rows as the database should hold them, and each object
/// the sequence has seen (same index as the runner's handles).
#[derive(Debug, Clone)]
struct World {
    committed: Rows,
    /// Committed rows plus what flushes wrote in the open transaction.
    database: Rows,
    objects: Vec<Object>,
    /// Added objects, in the order the session lists them.
    pending: Vec<usize>,
    /// Children taken out of a `delete_orphan` collection since the last flush.
    orphans: Vec<usize>,
    /// Orphans the flush deletes (they stay such until a flush succeeds).
    orphan_deletes: Vec<usize>,
    /// Counts links made, for `Object::linked`.
    links: usize,
    /// PostgreSQL: the key each table's sequence gives next. (SQLite gives
    /// the table's largest key plus one.)
    sequences: Option<BTreeMap<Kind, i64>>,
    /// PostgreSQL, after a failed flush: per table, the lowest and highest
    /// key its sequence may give next (the flush used an unknown number of
    /// its inserts' values).
    unsure: Option<BTreeMap<Kind, (i64, i64)>>,
    /// One per open savepoint, innermost last.
    savepoints: Vec<Snapshot>,
}

/// What a savepoint marks, taken right after the flush that begins it (so
/// nothing is pending, and every persistent object holds its row's values).
#[derive(Debug, Clone)]
struct Snapshot {
    database: Rows,
    objects: Vec<Object>,
}

impl World {
    fn new(committed: Rows, sequences: Option<BTreeMap<Kind, i64>>) -> World {
        World {
            database: committed.clone(),
            committed,
            objects: Vec::new(),
            pending: Vec::new(),
            orphans: Vec::new(),
            orphan_deletes: Vec::new(),
            links: 0,
            sequences,
            unsure: None,
            savepoints: Vec::new(),
        }
    }

    fn attached(&self, i: usize) -> bool {
        matches!(
            self.objects[i].status,
            Status::Pending | Status::Persistent | Status::Deleted { .. }
        )
    }

    /// In the identity map: loaded, or deleted but not flushed yet.
    fn in_map(&self, i: usize) -> bool {
        matches!(
            self.objects[i].status,
            Status::Persistent | Status::Deleted { flushed: false }
        )
    }

    fn lookup(&self, kind: Kind, id: i64) -> Option<usize> {
        (0..self.objects.len()).find(|&i| {
            self.in_map(i) && self.objects[i].kind == kind && self.objects[i].id == Some(id)
        })
    }

    /// `child.author.key()`: a pending parent has no key yet; a parent that
    /// left the session has the key 0 it was reset to, or its old key.
    fn parent_key(&self, i: usize) -> Option<i64> {
        match self.objects[i].parent? {
            Parent::Key(k) => Some(k),
            Parent::Object(p) if self.objects[p].status == Status::Pending => None,
            Parent::Object(p) => Some(self.objects[p].id.unwrap_or(0)),
        }
    }

    /// The parent object a relationship change starts from: the one held,
    /// or the loaded one with the key (where a session is at hand).
    fn current_parent(&self, i: usize, with_session: bool) -> Option<usize> {
        match self.objects[i].parent? {
            Parent::Object(p) => Some(p),
            Parent::Key(k) if with_session => self.lookup(Kind::Author, k),
            Parent::Key(_) => None,
        }
    }

    /// Whether `child`'s foreign key points at `author`.
    fn points_at(&self, child: usize, author: usize) -> bool {
        match self.objects[child].parent {
            Some(Parent::Object(p)) => p == author,
            Some(Parent::Key(k)) => self.in_map(author) && self.objects[author].id == Some(k),
            None => false,
        }
    }

    /// What a loaded collection of `author` must hold.
    /// The children a loaded collection of `author` holds: pending or
    /// persistent ones, and transient ones too when the author is in no
    /// session (a graph built before one).
    fn children(&self, author: usize, kind: Kind) -> Vec<usize> {
        let transient = self.objects[author].status == Status::Transient;
        (0..self.objects.len())
            .filter(|&c| {
                self.objects[c].kind == kind
                    && match self.objects[c].status {
                        Status::Pending | Status::Persistent => true,
                        Status::Transient => transient,
                        _ => false,
                    }
                    && self.points_at(c, author)
            })
            .collect()
    }

    fn memory_row(&self, i: usize) -> Row {
        Row {
            name: self.objects[i].name.clone(),
            fk: self.parent_key(i),
        }
    }

    fn count_in_map(&self) -> usize {
        (0..self.objects.len()).filter(|&i| self.in_map(i)).count()
    }

    // ------------------------------------------------ object life cycle

    fn add(&mut self, kind: Kind, name: String) -> usize {
        self.objects.push(Object {
            kind,
            status: Status::Pending,
            id: None,
            name,
            parent: None,
            inserted_in_transaction: false,
            touched: false,
            linked: 0,
        });
        let i = self.objects.len() - 1;
        self.pending.push(i);
        i
    }

    /// The object for a row: the one in the identity map, or a new one.
    fn load_row(&mut self, kind: Kind, id: i64) -> usize {
        if let Some(i) = self.lookup(kind, id) {
            return i;
        }
        let row = self.database[&(kind, id)].clone();
        self.objects.push(Object {
            kind,
            status: Status::Persistent,
            id: Some(id),
            name: row.name,
            parent: row.fk.map(Parent::Key),
            inserted_in_transaction: false,
            touched: false,
            linked: 0,
        });
        self.objects.len() - 1
    }

    /// An object that is in no session joins this one with the graph it
    /// was linked into while in none (save-update cascade): its parent and
    /// its children, breadth first, as far as objects in no session go.
    fn adopt(&mut self, i: usize) -> Result<(), Failure> {
        if self.objects[i].status != Status::Transient {
            return Err(Failure::Misuse);
        }
        let mut queue = std::collections::VecDeque::from([i]);
        while let Some(i) = queue.pop_front() {
            if self.objects[i].status != Status::Transient {
                continue;
            }
            self.objects[i].status = Status::Pending;
            self.pending.push(i);
            if let Some(Parent::Object(p)) = self.objects[i].parent {
                queue.push_back(p);
            }
            let mut children: Vec<usize> = (0..self.objects.len())
                .filter(|&c| self.objects[c].parent == Some(Parent::Object(i)))
                .collect();
            children.sort_by_key(|&c| self.objects[c].linked);
            queue.extend(children);
        }
        Ok(())
    }

    fn set_parent(&mut self, child: usize, author: usize) -> Result<(), Failure> {
        match (self.attached(child), self.attached(author)) {
            // Neither in a session: linked in memory, unless one of them was
            // persistent in a session (detached).
            (false, false) => {
                if [child, author]
                    .iter()
                    .any(|&i| self.objects[i].status == Status::Detached)
                {
                    return Err(Failure::Misuse);
                }
            }
            (true, false) => self.adopt(author)?,
            (false, true) => self.adopt(child)?,
            (true, true) => {}
        }
        if self.current_parent(child, true) != Some(author) {
            self.objects[child].parent = Some(Parent::Object(author));
            self.links += 1;
            self.objects[child].linked = self.links;
            self.touch(child);
        }
        Ok(())
    }

    fn clear_parent(&mut self, child: usize) {
        if self.objects[child].parent.is_some() {
            self.objects[child].parent = None;
            self.touch(child);
        }
    }

    /// A change the session tracks (only persistent objects are tracked).
    fn touch(&mut self, i: usize) {
        if self.objects[i].status == Status::Persistent {
            self.objects[i].touched = true;
        }
    }

    fn rename(&mut self, i: usize, name: String) {
        self.objects[i].name = name;
        self.touch(i);
    }

    fn remove_child(&mut self, author: usize, kind: Kind, child: usize) {
        let with_session = self.attached(author);
        if self.current_parent(child, with_session) == Some(author) {
            self.clear_parent(child);
        }
        if kind == Kind::Note && with_session {
            self.orphans.push(child);
        }
    }

    fn delete(&mut self, i: usize) -> Result<(), Failure> {
        match self.objects[i].status {
            Status::Pending => {
                self.objects[i].status = Status::Transient;
                self.pending.retain(|&p| p != i);
                Ok(())
            }
            Status::Persistent => {
                self.objects[i].status = Status::Deleted { flushed: false };
                Ok(())
            }
            Status::Deleted { .. } => Ok(()),
            Status::Transient | Status::Detached => Err(Failure::Misuse),
        }
    }

    // ------------------------------------------------------------ flush

    /// Orphans still without a parent are deleted (or, pending, let go).
    fn take_orphans(&mut self) {
        for i in std::mem::take(&mut self.orphans) {
            let status = self.objects[i].status;
            if matches!(status, Status::Pending | Status::Persistent)
                && self.objects[i].parent.is_none()
            {
                let _ = self.delete(i);
                if self.objects[i].status == (Status::Deleted { flushed: false }) {
                    self.orphan_deletes.push(i);
                }
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.orphans.is_empty()
            || !self.pending.is_empty()
            || (0..self.objects.len()).any(|i| match self.objects[i].status {
                Status::Deleted { flushed: false } => true,
                Status::Persistent => {
                    let o = &self.objects[i];
                    self.database.get(&(o.kind, o.id.unwrap_or(0))) != Some(&self.memory_row(i))
                }
                _ => false,
            })
    }

    /// Pending objects in the order the flush inserts them.
    fn insert_order(&self) -> Vec<usize> {
        // Parents' table first, each table in the order added: every
        // pending parent is an author, so that puts it before its children
        // (keys are per table, so the order among child tables is moot).
        let mut order = self.pending.clone();
        order.sort_by_key(|&i| self.objects[i].kind != Kind::Author);
        order
    }

    /// The foreign key a flush writes for `i`, with the keys it assigns.
    fn written_fk(&self, i: usize, new_ids: &HashMap<usize, i64>) -> Option<i64> {
        match self.objects[i].parent? {
            Parent::Key(k) => Some(k),
            Parent::Object(p) => Some(new_ids.get(&p).copied().or(self.objects[p].id).unwrap_or(0)),
        }
    }

    fn autoflush(&mut self) -> Result<(), Failure> {
        if self.has_work() {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Runs a flush: all of it, or (on a constraint) nothing at all.
    fn flush(&mut self) -> Result<(), Failure> {
        self.take_orphans();
        if !self.has_work() {
            return Ok(());
        }
        let before = self.database.clone();
        let mut rows = before.clone();
        let mut violated = Vec::new();
        let mut stale = false;

        // Updates whose parent is not new run first; orphans go next.
        let order = self.insert_order();
        let updates: Vec<usize> = (0..self.objects.len())
            .filter(|&i| self.objects[i].status == Status::Persistent)
            .collect();
        let late = |i: usize| {
            matches!(self.objects[i].parent,
                Some(Parent::Object(p)) if self.objects[p].status == Status::Pending)
        };
        let no_ids = HashMap::new();
        for &i in updates.iter().filter(|&&i| !late(i)) {
            self.update_row(i, &no_ids, &mut rows, &mut violated, &mut stale);
        }
        for &i in &self.orphan_deletes {
            let o = &self.objects[i];
            stale |= rows.remove(&(o.kind, o.id.unwrap_or(0))).is_none();
        }
        // Inserts: the key is the table's largest plus one, as SQLite does,
        // or the sequence's next value on PostgreSQL.
        let mut new_ids = HashMap::new();
        let mut sequences = self.sequences.clone();
        for &i in &order {
            let kind = self.objects[i].kind;
            let id = match &mut sequences {
                Some(next) => {
                    let slot = next.entry(kind).or_insert(1);
                    *slot += 1;
                    *slot - 1
                }
                None => rows
                    .range((kind, i64::MIN)..=(kind, i64::MAX))
                    .next_back()
                    .map_or(1, |((_, id), _)| id + 1),
            };
            new_ids.insert(i, id);
            let row = Row {
                name: self.objects[i].name.clone(),
                fk: self.written_fk(i, &new_ids),
            };
            if kind != Kind::Author {
                Self::check_fk(kind, row.fk, &rows, &mut violated);
            }
            rows.insert((kind, id), row);
        }
        for &i in updates.iter().filter(|&&i| late(i)) {
            self.update_row(i, &new_ids, &mut rows, &mut violated, &mut stale);
        }
        // Deletes, children's tables before their parents'.
        let mut deleted: Vec<usize> = (0..self.objects.len())
            .filter(|&i| {
                self.objects[i].status == (Status::Deleted { flushed: false })
                    && !self.orphan_deletes.contains(&i)
            })
            .collect();
        deleted.sort_by_key(|&i| self.objects[i].kind == Kind::Author);
        let mut deleted_authors = Vec::new();
        for &i in &deleted {
            let o = &self.objects[i];
            let id = o.id.unwrap_or(0);
            stale |= rows.remove(&(o.kind, id)).is_none();
            if o.kind == Kind::Author {
                deleted_authors.push(id);
                let children: Vec<(Kind, i64)> = rows
                    .iter()
                    .filter(|(_, row)| row.fk == Some(id))
                    .map(|(key, _)| *key)
                    .collect();
                for key in children {
                    match key.0 {
                        Kind::Book => {
                            rows.remove(&key);
                        }
                        Kind::Fan => {
                            if let Some(row) = rows.get_mut(&key) {
                                row.fk = None;
                            }
                        }
                        _ => violated.push(ConstraintKind::ForeignKey),
                    }
                }
            }
        }
        let failure = if !violated.is_empty() {
            Some(Failure::Constraint(violated))
        } else if stale {
            Some(Failure::Stale)
        } else {
            None
        };
        if let Some(failure) = failure {
            // Some of the inserts may have run before the failing statement.
            if let (Some(before), Some(after)) = (&self.sequences, &sequences) {
                let unsure = self.unsure.get_or_insert_with(BTreeMap::new);
                for (&kind, &hi) in after {
                    let lo = before.get(&kind).copied().unwrap_or(1);
                    let range = unsure.entry(kind).or_insert((lo, lo));
                    range.1 = range.1.max(hi);
                }
            }
            return Err(failure);
        }

        // Success: the objects follow what was written.
        self.database = rows;
        self.sequences = sequences;
        for (&i, &id) in &new_ids {
            let o = &mut self.objects[i];
            o.status = Status::Persistent;
            o.id = Some(id);
            o.inserted_in_transaction = true;
        }
        for i in deleted
            .into_iter()
            .chain(std::mem::take(&mut self.orphan_deletes))
        {
            self.objects[i].status = Status::Deleted { flushed: true };
        }
        self.pending.clear();
        // Loaded children of deleted authors follow ON DELETE.
        for i in 0..self.objects.len() {
            if self.objects[i].status != Status::Persistent {
                continue;
            }
            let Some(key) = self.parent_key(i) else {
                continue;
            };
            if !deleted_authors.contains(&key) {
                continue;
            }
            match self.objects[i].kind {
                Kind::Book => self.objects[i].status = Status::Deleted { flushed: true },
                Kind::Fan => {
                    self.objects[i].parent = None;
                    self.objects[i].touched = true;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The constraints a written foreign key must meet: books need an
    /// author, and any key must name an author row.
    fn check_fk(kind: Kind, fk: Option<i64>, rows: &Rows, violated: &mut Vec<ConstraintKind>) {
        match fk {
            None if kind == Kind::Book => violated.push(ConstraintKind::NotNull),
            Some(k) if !rows.contains_key(&(Kind::Author, k)) => {
                violated.push(ConstraintKind::ForeignKey);
            }
            _ => {}
        }
    }

    /// The UPDATE of a persistent object, if it changed.
    fn update_row(
        &self,
        i: usize,
        new_ids: &HashMap<usize, i64>,
        rows: &mut Rows,
        violated: &mut Vec<ConstraintKind>,
        stale: &mut bool,
    ) {
        let o = &self.objects[i];
        let key = (o.kind, o.id.unwrap_or(0));
        let now = Row {
            name: o.name.clone(),
            fk: self.written_fk(i, new_ids),
        };
        let Some(old) = rows.get(&key).cloned() else {
            *stale = true;
            return;
        };
        if old == now {
            return;
        }
        // SQLite checks a foreign key only when the UPDATE sets it.
        if old.fk != now.fk {
            Self::check_fk(o.kind, now.fk, rows, violated);
        }
        rows.insert(key, now);
    }

    fn commit(&mut self) -> Result<(), Failure> {
        // Commit waits for the savepoints: nothing flushed, nothing changed.
        if !self.savepoints.is_empty() {
            return Err(Failure::Misuse);
        }
        self.flush()?;
        self.committed = self.database.clone();
        for o in &mut self.objects {
            if o.status == (Status::Deleted { flushed: true }) {
                o.status = Status::Detached;
            }
            o.inserted_in_transaction = false;
            o.touched = false;
        }
        Ok(())
    }

    /// Everything back to the last commit: added objects leave the session,
    /// loaded ones get the committed values back.
    fn rollback(&mut self) {
        self.database = self.committed.clone();
        for i in 0..self.objects.len() {
            let o = &mut self.objects[i];
            match o.status {
                Status::Pending => o.status = Status::Transient,
                Status::Persistent | Status::Deleted { .. } if o.inserted_in_transaction => {
                    o.status = Status::Transient;
                    o.id = None;
                }
                Status::Persistent | Status::Deleted { .. } => o.status = Status::Persistent,
                Status::Transient | Status::Detached => {}
            }
            o.inserted_in_transaction = false;
        }
        for i in 0..self.objects.len() {
            if self.objects[i].status != Status::Persistent {
                continue;
            }
            let o = &self.objects[i];
            let row = self.committed[&(o.kind, o.id.unwrap_or(0))].clone();
            // A parent object of the committed key stays the parent.
            if self.parent_key(i) != row.fk {
                self.objects[i].parent = row.fk.map(Parent::Key);
            }
            self.objects[i].name = row.name;
        }
        for o in &mut self.objects {
            o.touched = false;
        }
        self.pending.clear();
        self.orphans.clear();
        self.orphan_deletes.clear();
        // The transaction's end ends every savepoint in it.
        self.savepoints.clear();
    }

    // ------------------------------------------------------- savepoints

    /// `begin_nested`: a flush (which, failing, opens nothing), then the
    /// savepoint's snapshot.
    fn begin_nested(&mut self) -> Result<(), Failure> {
        self.flush()?;
        self.savepoints.push(Snapshot {
            database: self.database.clone(),
            objects: self.objects.clone(),
        });
        Ok(())
    }

    /// `release`: a flush, after which the changes since the savepoint
    /// belong to the one around it (or the transaction). A failed flush
    /// rolls back to the savepoint, as dropping the guard does.
    fn release_savepoint(&mut self) -> Result<(), Failure> {
        match self.flush() {
            Ok(()) => {
                self.savepoints.pop();
                Ok(())
            }
            Err(failure) => {
                self.rollback_savepoint();
                Err(failure)
            }
        }
    }

    /// Back to the innermost savepoint: its rows; the objects that were in
    /// the session at it get their state and values back; those added or
    /// inserted since leave the session with the values they have (as a
    /// rollback leaves them); those loaded since are read again. PostgreSQL's
    /// sequences stay where they got to.
    fn rollback_savepoint(&mut self) {
        let Some(Snapshot { database, objects }) = self.savepoints.pop() else {
            return;
        };
        self.database = database;
        let in_session = |o: &Object| {
            matches!(
                o.status,
                Status::Pending | Status::Persistent | Status::Deleted { .. }
            )
        };
        // States and keys first, so that the foreign keys below are read
        // with the parents' restored keys.
        let mut marked: Vec<Option<Option<Parent>>> = vec![None; self.objects.len()];
        for (i, o) in self.objects.iter_mut().enumerate() {
            match objects.get(i).filter(|was| in_session(was)) {
                Some(was) => {
                    o.status = was.status;
                    o.id = was.id;
                    o.name.clone_from(&was.name);
                    o.inserted_in_transaction = was.inserted_in_transaction;
                    o.touched = was.touched;
                    o.linked = was.linked;
                    marked[i] = Some(was.parent);
                }
                None => match o.status {
                    Status::Pending => o.status = Status::Transient,
                    Status::Persistent | Status::Deleted { .. } if o.inserted_in_transaction => {
                        o.status = Status::Transient;
                        o.id = None;
                        o.inserted_in_transaction = false;
                    }
                    // Loaded since: read again below.
                    Status::Persistent | Status::Deleted { .. } => {
                        o.status = Status::Persistent;
                        o.touched = false;
                    }
                    Status::Transient | Status::Detached => {}
                },
            }
        }
        for (i, marked) in marked.into_iter().enumerate() {
            let o = &self.objects[i];
            let fk = match marked {
                // Its foreign key at the savepoint.
                Some(parent) => {
                    let now = self.objects[i].parent;
                    self.objects[i].parent = parent;
                    let fk = self.parent_key(i);
                    self.objects[i].parent = now;
                    fk
                }
                None if o.status == Status::Persistent => {
                    let row = self.database[&(o.kind, o.id.unwrap_or(0))].clone();
                    self.objects[i].name = row.name;
                    row.fk
                }
                None => continue,
            };
            // A parent object of that key stays the parent.
            if self.parent_key(i) != fk {
                self.objects[i].parent = fk.map(Parent::Key);
            }
        }
        self.pending.clear();
        self.orphans.clear();
        self.orphan_deletes.clear();
    }

    fn reopen(&mut self) {
        *self = World::new(self.committed.clone(), self.sequences.take());
    }

    // ------------------------------------------------------------ loads

    fn get(&mut self, kind: Kind, id: i64) -> Result<usize, Failure> {
        if let Some(i) = self.lookup(kind, id) {
            return Ok(i);
        }
        self.autoflush()?;
        if self.database.contains_key(&(kind, id)) {
            Ok(self.load_row(kind, id))
        } else {
            Err(Failure::NotFound)
        }
    }

    fn query(&mut self, kind: Kind) -> Result<Vec<usize>, Failure> {
        self.autoflush()?;
        let ids: Vec<i64> = self
            .database
            .range((kind, i64::MIN)..=(kind, i64::MAX))
            .map(|((_, id), _)| *id)
            .collect();
        Ok(ids.into_iter().map(|id| self.load_row(kind, id)).collect())
    }

    /// `author.<kind>.load()` on a collection that is not loaded.
    fn load_children(&mut self, author: usize, kind: Kind) -> Result<Vec<usize>, Failure> {
        if !self.attached(author) {
            return Err(Failure::SessionClosed);
        }
        self.autoflush()?;
        let key = self.objects[author].id;
        let ids: Vec<i64> = self
            .database
            .range((kind, i64::MIN)..=(kind, i64::MAX))
            .filter(|(_, row)| row.fk.is_some() && row.fk == key)
            .map(|((_, id), _)| *id)
            .collect();
        let mut found = Vec::new();
        for id in ids {
            let child = self.load_row(kind, id);
            self.objects[child].parent = Some(Parent::Object(author));
            if matches!(
                self.objects[child].status,
                Status::Pending | Status::Persistent
            ) {
                found.push(child);
            }
        }
        Ok(found)
    }

    fn load_parent(&mut self, child: usize) -> Result<Option<usize>, Failure> {
        let key = match self.objects[child].parent {
            None => return Ok(None),
            Some(Parent::Object(p)) => return Ok(Some(p)),
            Some(Parent::Key(k)) => k,
        };
        if !self.attached(child) {
            return Err(Failure::SessionClosed);
        }
        let author = match self.lookup(Kind::Author, key) {
            Some(p) => p,
            None => {
                self.autoflush()?;
                if !self.database.contains_key(&(Kind::Author, key)) {
                    return Err(Failure::NotFound);
                }
                self.load_row(Kind::Author, key)
            }
        };
        self.objects[child].parent = Some(Parent::Object(author));
        Ok(Some(author))
    }
}

// ----------------------------------------------------------------- handles

/// A handle of any of the four models.
#[derive(Clone)]
enum Obj {
    Author(Handle<Author>),
    Book(Handle<Book>),
    Fan(Handle<Fan>),
    Note(Handle<Note>),
}

/// Runs `$body` with `$h` bound to the handle, whatever its model.
macro_rules! each {
    ($obj:expr, $h:ident => $body:expr) => {
        match $obj {
            Obj::Author($h) => $body,
            Obj::Book($h) => $body,
            Obj::Fan($h) => $body,
            Obj::Note($h) => $body,
        }
    };
}

impl Obj {
    fn kind(&self) -> Kind {
        match self {
            Obj::Author(_) => Kind::Author,
            Obj::Book(_) => Kind::Book,
            Obj::Fan(_) => Kind::Fan,
            Obj::Note(_) => Kind::Note,
        }
    }

    fn same(&self, other: &Obj) -> bool {
        match (self, other) {
            (Obj::Author(a), Obj::Author(b)) => a == b,
            (Obj::Book(a), Obj::Book(b)) => a == b,
            (Obj::Fan(a), Obj::Fan(b)) => a == b,
            (Obj::Note(a), Obj::Note(b)) => a == b,
            _ => false,
        }
    }

    fn state(&self) -> State {
        each!(self, h => h.state())
    }

    fn key(&self) -> orm::Result<i64> {
        each!(self, h => h.key())
    }

    fn name(&self) -> orm::Result<String> {
        each!(self, h => Ok(h.read()?.name.clone()))
    }

    fn rename(&self, name: String) -> orm::Result<()> {
        each!(self, h => {
            h.write()?.name = name;
            Ok(())
        })
    }

    fn delete(&self, session: &Session) -> orm::Result<()> {
        each!(self, h => session.delete(h))
    }

    /// `author.key()` of a child; `None` for an author.
    fn parent_key(&self) -> orm::Result<Option<i64>> {
        Ok(match self {
            Obj::Author(_) => None,
            Obj::Book(h) => h.read()?.author.key(),
            Obj::Fan(h) => h.read()?.author.key(),
            Obj::Note(h) => h.read()?.author.key(),
        })
    }

    fn set_parent(&self, author: &Handle<Author>) -> orm::Result<()> {
        match self {
            Obj::Author(_) => Ok(()),
            Obj::Book(h) => h.read()?.author.set(author),
            Obj::Fan(h) => h.read()?.author.set(author),
            Obj::Note(h) => h.read()?.author.set(author),
        }
    }

    fn clear_parent(&self) -> orm::Result<()> {
        match self {
            Obj::Author(_) => Ok(()),
            Obj::Book(h) => h.read()?.author.clear(),
            Obj::Fan(h) => h.read()?.author.clear(),
            Obj::Note(h) => h.read()?.author.clear(),
        }
    }

    fn load_parent(&self) -> orm::Result<Option<Handle<Author>>> {
        match self {
            Obj::Author(_) => Ok(None),
            Obj::Book(h) => h.read()?.author.load_optional(),
            Obj::Fan(h) => h.read()?.author.load_optional(),
            Obj::Note(h) => h.read()?.author.load_optional(),
        }
    }
}

impl std::fmt::Debug for Obj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {:?} ({:?})", self.kind(), self.key(), self.state())
    }
}

fn get(session: &Session, kind: Kind, id: i64) -> orm::Result<Obj> {
    Ok(match kind {
        Kind::Author => Obj::Author(session.get::<Author>(id)?),
        Kind::Book => Obj::Book(session.get::<Book>(id)?),
        Kind::Fan => Obj::Fan(session.get::<Fan>(id)?),
        Kind::Note => Obj::Note(session.get::<Note>(id)?),
    })
}

fn query(session: &Session, kind: Kind) -> orm::Result<Vec<Obj>> {
    Ok(match kind {
        Kind::Author => wrap(session.query::<Author>().all()?, Obj::Author),
        Kind::Book => wrap(session.query::<Book>().all()?, Obj::Book),
        Kind::Fan => wrap(session.query::<Fan>().all()?, Obj::Fan),
        Kind::Note => wrap(session.query::<Note>().all()?, Obj::Note),
    })
}

fn wrap<T: Model>(handles: Vec<Handle<T>>, f: fn(Handle<T>) -> Obj) -> Vec<Obj> {
    handles.into_iter().map(f).collect()
}

fn add(session: &Session, kind: Kind, name: String) -> Obj {
    match kind {
        Kind::Author => Obj::Author(session.add(Author::new(name))),
        Kind::Book => Obj::Book(session.add(Book::new(name))),
        Kind::Fan => Obj::Fan(session.add(Fan::new(name))),
        Kind::Note => Obj::Note(session.add(Note::new(name))),
    }
}

fn is_loaded(author: &Handle<Author>, kind: Kind) -> orm::Result<bool> {
    let author = author.read()?;
    Ok(match kind {
        Kind::Book => author.books.is_loaded(),
        Kind::Fan => author.fans.is_loaded(),
        Kind::Note => author.notes.is_loaded(),
        Kind::Author => false,
    })
}

fn load_children(author: &Handle<Author>, kind: Kind) -> orm::Result<Vec<Obj>> {
    let author = author.read()?;
    Ok(match kind {
        Kind::Book => wrap(author.books.load()?, Obj::Book),
        Kind::Fan => wrap(author.fans.load()?, Obj::Fan),
        Kind::Note => wrap(author.notes.load()?, Obj::Note),
        Kind::Author => Vec::new(),
    })
}

fn push(author: &Handle<Author>, child: &Obj) -> orm::Result<()> {
    let author = author.read()?;
    match child {
        Obj::Book(h) => author.books.push(h),
        Obj::Fan(h) => author.fans.push(h),
        Obj::Note(h) => author.notes.push(h),
        Obj::Author(_) => Ok(()),
    }
}

fn remove(author: &Handle<Author>, child: &Obj) -> orm::Result<()> {
    let author = author.read()?;
    match child {
        Obj::Book(h) => author.books.remove(h),
        Obj::Fan(h) => author.fans.remove(h),
        Obj::Note(h) => author.notes.remove(h),
        Obj::Author(_) => Ok(()),
    }
}

/// Every row of the four tables, read by a session of its own.
fn database_rows(db: &Database) -> orm::Result<Rows> {
    let session = db.session();
    let mut rows = Rows::new();
    for row in session.query::<AuthorRow>().all()? {
        let row = row.read()?;
        let value = Row {
            name: row.name.clone(),
            fk: None,
        };
        rows.insert((Kind::Author, row.id), value);
    }
    macro_rules! children {
        ($model:ty, $kind:expr) => {
            for row in session.query::<$model>().all()? {
                let row = row.read()?;
                let value = Row {
                    name: row.name.clone(),
                    fk: row.author_id,
                };
                rows.insert(($kind, row.id), value);
            }
        };
    }
    children!(BookRow, Kind::Book);
    children!(FanRow, Kind::Fan);
    children!(NoteRow, Kind::Note);
    Ok(rows)
}

// ------------------------------------------------------------------ runner

/// The ORM side of a sequence in one session, kept in step with the model.
struct Run<'s> {
    db: Database,
    session: &'s Session,
    /// The guards of the open savepoints, innermost last: one per snapshot
    /// in `world.savepoints`.
    savepoints: Vec<Savepoint<'s>>,
    /// Every handle the sequence has seen in this session, index for
    /// index with `world.objects`.
    objects: Vec<Obj>,
    world: World,
}

/// Compares an outcome with the model's, in words for the failure report.
fn outcome<T: std::fmt::Debug, U: std::fmt::Debug>(
    actual: &orm::Result<T>,
    expected: &Result<U, Failure>,
) -> Result<(), String> {
    match (actual, expected) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(error), Err(failure)) if failure.matches(error) => Ok(()),
        _ => Err(format!(
            "the ORM gave {actual:?}, the model expects {expected:?}"
        )),
    }
}

impl<'s> Run<'s> {
    /// The part of a sequence that runs in `session`, new, from `world`.
    fn new(db: &Database, session: &'s Session, world: World) -> Run<'s> {
        Run {
            db: db.clone(),
            session,
            savepoints: Vec::new(),
            objects: Vec::new(),
            world,
        }
    }

    /// After a failed flush on PostgreSQL: the model takes the keys the
    /// sequences give next from the database, within the range it expects.
    fn sync_sequences(&mut self) -> Result<(), String> {
        let Some(unsure) = self.world.unsure.take() else {
            return Ok(());
        };
        let sequences = self
            .world
            .sequences
            .as_mut()
            .expect("only PostgreSQL's keys are unsure");
        for (kind, (lo, hi)) in unsure {
            let next = next_sequence_value(&self.db, kind)
                .map_err(|e| format!("reading the {kind:?} sequence: {e:?}"))?;
            if !(lo..=hi).contains(&next) {
                return Err(format!(
                    "after the failed flush the {kind:?} sequence gives {next}; the model expects {lo}..={hi}"
                ));
            }
            sequences.insert(kind, next);
        }
        Ok(())
    }

    /// The `pick`-th object of the kinds `fits` accepts, if there is any.
    fn pick(&self, pick: usize, fits: impl Fn(Kind) -> bool) -> Option<usize> {
        let fitting: Vec<usize> = (0..self.objects.len())
            .filter(|&i| fits(self.world.objects[i].kind))
            .collect();
        (!fitting.is_empty()).then(|| fitting[pick % fitting.len()])
    }

    fn author(&self, i: usize) -> Result<&Handle<Author>, String> {
        match &self.objects[i] {
            Obj::Author(h) => Ok(h),
            _ => Err(format!("object {i} is not an author")),
        }
    }

    /// Matches the handles an operation returned with the objects the
    /// model expects: known ones by identity, new ones by key.
    fn take_handles(&mut self, got: Vec<Obj>, expected: &[usize]) -> Result<(), String> {
        let mut indexes = Vec::new();
        let mut new = Vec::new();
        for handle in got {
            match self.objects.iter().position(|o| o.same(&handle)) {
                Some(i) => indexes.push(i),
                None => new.push(handle),
            }
        }
        for i in self.objects.len()..self.world.objects.len() {
            let object = &self.world.objects[i];
            let found = new
                .iter()
                .position(|h| h.kind() == object.kind && h.key().ok() == object.id);
            let Some(found) = found else {
                return Err(format!(
                    "the model expects a newly loaded {:?} {:?}; the ORM returned none",
                    object.kind, object.id
                ));
            };
            self.objects.push(new.remove(found));
            indexes.push(i);
        }
        if !new.is_empty() {
            return Err(format!(
                "the ORM returned {} object(s) the model does not know",
                new.len()
            ));
        }
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        indexes.sort_unstable();
        if indexes != expected {
            return Err(format!(
                "the ORM returned objects {indexes:?}, the model expects {expected:?}"
            ));
        }
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Add { kind, name, author } => {
                let name = name_text(name);
                let handle = add(self.session, kind, name.clone());
                self.objects.push(handle);
                let i = self.world.add(kind, name);
                if kind != Kind::Author
                    && let Some(author) = author.and_then(|a| self.pick(a, |k| k == Kind::Author))
                {
                    let actual = self.objects[i].set_parent(self.author(author)?);
                    let expected = self.world.set_parent(i, author);
                    outcome(&actual, &expected)?;
                }
            }
            Op::Get { kind, id } => {
                let actual = get(self.session, kind, id);
                let expected = self.world.get(kind, id);
                outcome(&actual, &expected)?;
                if let (Ok(handle), Ok(i)) = (actual, expected) {
                    self.take_handles(vec![handle], &[i])?;
                }
            }
            Op::Query { kind } => {
                let actual = query(self.session, kind);
                let expected = self.world.query(kind);
                outcome(&actual, &expected)?;
                if let (Ok(handles), Ok(indexes)) = (actual, expected) {
                    self.take_handles(handles, &indexes)?;
                }
            }
            Op::Rename { object, name } => {
                let Some(i) = self.pick(object, |_| true) else {
                    return Ok(());
                };
                let name = name_text(name);
                self.objects[i]
                    .rename(name.clone())
                    .map_err(|e| format!("rename failed: {e:?}"))?;
                self.world.rename(i, name);
            }
            Op::Set { child, author } => {
                let (Some(c), Some(a)) = (
                    self.pick(child, |k| k != Kind::Author),
                    self.pick(author, |k| k == Kind::Author),
                ) else {
                    return Ok(());
                };
                let actual = self.objects[c].set_parent(self.author(a)?);
                let expected = self.world.set_parent(c, a);
                outcome(&actual, &expected)?;
            }
            Op::Clear { child } => {
                let Some(c) = self.pick(child, |k| k != Kind::Author) else {
                    return Ok(());
                };
                let actual = self.objects[c].clear_parent();
                self.world.clear_parent(c);
                outcome(&actual, &Ok::<(), Failure>(()))?;
            }
            Op::Push {
                author,
                kind,
                child,
            } => {
                let (Some(a), Some(c)) = (
                    self.pick(author, |k| k == Kind::Author),
                    self.pick(child, |k| k == kind),
                ) else {
                    return Ok(());
                };
                let actual = push(self.author(a)?, &self.objects[c]);
                let expected = self.world.set_parent(c, a);
                outcome(&actual, &expected)?;
            }
            Op::Remove {
                author,
                kind,
                child,
            } => {
                let (Some(a), Some(c)) = (
                    self.pick(author, |k| k == Kind::Author),
                    self.pick(child, |k| k == kind),
                ) else {
                    return Ok(());
                };
                let before = self.objects[c].parent_key().ok().flatten();
                let actual = remove(self.author(a)?, &self.objects[c]);
                outcome(&actual, &Ok::<(), Failure>(()))?;
                let after = self.objects[c].parent_key().ok().flatten();
                if self.world.attached(a) {
                    self.world.remove_child(a, kind, c);
                } else if self.world.current_parent(c, false) == Some(a)
                    && before.is_some()
                    && after.is_none()
                {
                    // An author out of any session has no identity map to
                    // find its children by key: whether it still recognises
                    // one through a pointer is left open. Follow the ORM.
                    self.world.clear_parent(c);
                }
            }
            Op::LoadChildren { author, kind } => {
                let Some(a) = self.pick(author, |k| k == Kind::Author) else {
                    return Ok(());
                };
                let handle = self.author(a)?.clone();
                let loaded = is_loaded(&handle, kind).map_err(|e| format!("{e:?}"))?;
                let actual = load_children(&handle, kind);
                if loaded {
                    // A loaded collection answers from memory; what it
                    // holds is checked with the other invariants.
                    let expected = self.world.children(a, kind);
                    let modelled = matches!(
                        self.world.objects[a].status,
                        Status::Pending | Status::Persistent | Status::Transient
                    );
                    match actual {
                        Ok(handles) if modelled => self.take_handles(handles, &expected)?,
                        Ok(_) => {}
                        Err(e) => return Err(format!("loading a loaded collection failed: {e:?}")),
                    }
                } else {
                    let expected = self.world.load_children(a, kind);
                    outcome(&actual, &expected)?;
                    if let (Ok(handles), Ok(indexes)) = (actual, expected) {
                        self.take_handles(handles, &indexes)?;
                    }
                }
            }
            Op::LoadParent { child } => {
                let Some(c) = self.pick(child, |k| k != Kind::Author) else {
                    return Ok(());
                };
                let actual = self.objects[c].load_parent();
                let mut expected = self.world.load_parent(c);
                if !self.world.attached(c) && matches!(actual, Err(Error::SessionClosed { .. })) {
                    // Out of any session, a child may or may not still
                    // reach a parent it pointed at: both are allowed.
                    expected = Err(Failure::SessionClosed);
                    if let Some(Parent::Object(p)) = self.world.objects[c].parent
                        && let Some(id) = self.world.objects[p].id
                    {
                        self.world.objects[c].parent = Some(Parent::Key(id));
                    }
                }
                outcome(&actual, &expected)?;
                match (actual, expected) {
                    (Ok(Some(handle)), Ok(Some(i))) => {
                        self.take_handles(vec![Obj::Author(handle)], &[i])?;
                    }
                    (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
                    (actual, expected) => {
                        return Err(format!(
                            "loading the parent gave {actual:?}, the model expects {expected:?}"
                        ));
                    }
                }
            }
            Op::Delete { object } => {
                let Some(i) = self.pick(object, |_| true) else {
                    return Ok(());
                };
                let actual = self.objects[i].delete(self.session);
                let expected = self.world.delete(i);
                outcome(&actual, &expected)?;
            }
            Op::Flush => {
                let actual = self.session.flush();
                let expected = self.world.flush();
                outcome(&actual, &expected)?;
            }
            Op::Commit => {
                let actual = self.session.commit();
                let expected = self.world.commit();
                outcome(&actual, &expected)?;
                // A commit refused for an open savepoint left the rows as
                // they were (SQLite's other connections cannot read them
                // while the transaction writes: PostgreSQL checks it).
                let refused = !self.savepoints.is_empty();
                if expected.is_ok() || (refused && self.db.backend() == orm::Backend::Postgres) {
                    self.check_database()?;
                }
            }
            Op::Rollback => {
                let actual = self.session.rollback();
                self.world.rollback();
                outcome(&actual, &Ok::<(), Failure>(()))?;
                // Inert now: dropping them does nothing.
                self.savepoints.clear();
                self.check_database()?;
            }
            Op::BeginNested => {
                let actual = self.session.begin_nested();
                let expected = self.world.begin_nested();
                outcome(&actual, &expected)?;
                if let Ok(savepoint) = actual {
                    self.savepoints.push(savepoint);
                }
            }
            Op::ReleaseSavepoint => {
                if self.savepoints.is_empty() {
                    return Ok(());
                }
                // A failed flush rolls back.
                let savepoint = self.savepoints.pop().expect("one is open");
                let actual = savepoint.release();
                let expected = self.world.release_savepoint();
                outcome(&actual, &expected)?;
                self.check_transaction_rows()?;
            }
            Op::RollbackSavepoint => {
                if self.savepoints.is_empty() {
                    return Ok(());
                }
                let savepoint = self.savepoints.pop().expect("one is open");
                let actual = savepoint.rollback();
                self.world.rollback_savepoint();
                outcome(&actual, &Ok::<(), Failure>(()))?;
                self.check_transaction_rows()?;
            }
            Op::Reopen => unreachable!("`run` reopens the session"),
        }
        if self.savepoints.len() != self.world.savepoints.len() {
            return Err(format!(
                "{} savepoint(s) open, the model has {}",
                self.savepoints.len(),
                self.world.savepoints.len()
            ));
        }
        self.check_invariants()
    }

    /// Before the session goes: drops the savepoints' guards, innermost
    /// first, each drop rolling back to its savepoint, checked as
    /// `RollbackSavepoint` is (but for the rows: the session is about to
    /// take the whole transaction with it).
    fn drop_savepoints(&mut self) -> Result<(), String> {
        while !self.savepoints.is_empty() {
            drop(self.savepoints.pop());
            self.world.rollback_savepoint();
            self.check_invariants()
                .map_err(|e| format!("after dropping a savepoint's guard: {e}"))?;
        }
        Ok(())
    }

    /// The rows the open transaction holds, read through the session (with
    /// nothing pending, so its flush first writes nothing), against the
    /// model's.
    fn check_transaction_rows(&self) -> Result<(), String> {
        let sql = "SELECT CAST(0 AS BIGINT), id, name, CAST(NULL AS BIGINT) FROM authors
            UNION ALL SELECT CAST(1 AS BIGINT), id, name, author_id FROM books
            UNION ALL SELECT CAST(2 AS BIGINT), id, name, author_id FROM fans
            UNION ALL SELECT CAST(3 AS BIGINT), id, name, author_id FROM notes";
        let values = self
            .session
            .sql_values::<(i64, i64, String, Option<i64>)>(sql, &[])
            .map_err(|e| format!("reading the transaction's rows: {e:?}"))?;
        let mut rows = Rows::new();
        for (kind, id, name, fk) in values {
            let kind = [Kind::Author, Kind::Book, Kind::Fan, Kind::Note][kind as usize];
            rows.insert((kind, id), Row { name, fk });
        }
        if rows != self.world.database {
            return Err(format!(
                "the transaction holds {rows:?}, the model {:?}",
                self.world.database
            ));
        }
        Ok(())
    }

    fn check_database(&self) -> Result<(), String> {
        let rows = database_rows(&self.db).map_err(|e| format!("reading the rows: {e:?}"))?;
        if rows != self.world.committed {
            return Err(format!(
                "the database holds {rows:?}, the model {:?}",
                self.world.committed
            ));
        }
        Ok(())
    }

    /// The invariants of every step; reading them must cost no SQL.
    fn check_invariants(&self) -> Result<(), String> {
        let recorder = self.db.recorder();
        self.check_objects()
            .map_err(|e| format!("{e}\nmodel: {:#?}", self.world.objects))?;
        if recorder.count() > 0 {
            return Err(format!(
                "checking the invariants issued SQL: {:?}",
                recorder.sql()
            ));
        }
        Ok(())
    }

    fn check_objects(&self) -> Result<(), String> {
        let w = &self.world;
        for (i, handle) in self.objects.iter().enumerate() {
            let object = &w.objects[i];
            let what = format!("object {i} ({:?} {:?})", object.kind, object.id);
            let err = |e: Error| format!("{what}: {e:?}");
            if handle.state() != object.status.public() {
                return Err(format!(
                    "{what} is {:?}, the model says {:?}",
                    handle.state(),
                    object.status
                ));
            }
            if handle.key().map_err(err)? != object.id.unwrap_or(0) {
                return Err(format!("{what} has key {:?}", handle.key().map_err(err)?));
            }
            if handle.name().map_err(err)? != object.name {
                return Err(format!(
                    "{what} has name {:?}, the model {:?}",
                    handle.name().map_err(err)?,
                    object.name
                ));
            }
            if handle.parent_key().map_err(err)? != w.parent_key(i) {
                return Err(format!(
                    "{what} points at author {:?}, the model says {:?}",
                    handle.parent_key().map_err(err)?,
                    w.parent_key(i)
                ));
            }
            if w.in_map(i) {
                let id = object.id.unwrap_or(0);
                let found = get(self.session, object.kind, id).map_err(err)?;
                if !found.same(handle) {
                    return Err(format!("{what}: get returns another object for its key"));
                }
            }
        }
        if self.session.len() != w.count_in_map() {
            return Err(format!(
                "the identity map holds {} objects, the model {}",
                self.session.len(),
                w.count_in_map()
            ));
        }
        for (a, handle) in self.objects.iter().enumerate() {
            let Obj::Author(author) = handle else {
                continue;
            };
            if !matches!(
                w.objects[a].status,
                Status::Pending | Status::Persistent | Status::Transient
            ) {
                continue;
            }
            for kind in CHILD_KINDS {
                if !is_loaded(author, kind).map_err(|e| format!("{e:?}"))? {
                    continue;
                }
                let held = load_children(author, kind)
                    .map_err(|e| format!("author {a}'s loaded {kind:?}s: {e:?}"))?;
                let mut indexes = Vec::new();
                for child in &held {
                    match self.objects.iter().position(|o| o.same(child)) {
                        Some(i) => indexes.push(i),
                        None => {
                            return Err(format!("author {a}'s {kind:?}s hold an unknown object"));
                        }
                    }
                }
                indexes.sort_unstable();
                let expected = w.children(a, kind);
                if indexes != expected {
                    return Err(format!(
                        "author {a}'s loaded {kind:?}s hold {indexes:?}; their foreign keys say {expected:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Runs a sequence from the seed on `db` (set up by `setup`), seeded
/// afresh; the error names the failing step.
fn run(db: &Database, ops: &[Op]) -> Result<(), String> {
    reset(db).map_err(|e| format!("setting up: {e:?}"))?;
    let sequences = (db.backend() == orm::Backend::Postgres).then(seed_sequences);
    let mut world = World::new(seed_rows(), sequences);
    let failed =
        |n: usize, op: Op, e: String| format!("step {n} ({op:?}): {e}\nsequence: {ops:#?}");
    let mut steps = ops.iter().copied().enumerate();
    // The reopen that began the current session, checked in it.
    let mut reopened = None;
    loop {
        // A session per stretch between reopens: the savepoints' guards
        // borrow it.
        let session = db.session();
        let mut run = Run::new(db, &session, world);
        if let Some((n, op)) = reopened.take() {
            run.check_database()
                .and_then(|()| run.check_invariants())
                .map_err(|e| failed(n, op, e))?;
        }
        for (n, op) in steps.by_ref() {
            if let Op::Reopen = op {
                run.drop_savepoints().map_err(|e| failed(n, op, e))?;
                reopened = Some((n, op));
                break;
            }
            run.step(op)
                .and_then(|()| run.sync_sequences())
                .map_err(|e| failed(n, op, e))?;
        }
        if reopened.is_none() {
            return Ok(());
        }
        // The handles go with the run, then the session.
        world = run.world;
        world.reopen();
    }
}

// ---------------------------------------------------------------- strategy

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Author),
        Just(Kind::Book),
        Just(Kind::Fan),
        Just(Kind::Note)
    ]
}

fn child_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Book), Just(Kind::Fan), Just(Kind::Note)]
}

/// Operations, weighted towards relationships (`relations`) or towards
/// transactions, savepoints and sessions.
fn op(relations: bool) -> impl Strategy<Value = Op> {
    let (rel, tx, sp) = if relations { (4, 1, 1) } else { (2, 3, 2) };
    let pick = || 0usize..8;
    let name = || 0u8..3;
    prop_oneof![
        3 => (kind(), name(), proptest::option::weighted(0.9, pick()))
            .prop_map(|(kind, name, author)| Op::Add { kind, name, author }),
        2 => (kind(), 1i64..6).prop_map(|(kind, id)| Op::Get { kind, id }),
        1 => kind().prop_map(|kind| Op::Query { kind }),
        2 => (pick(), name()).prop_map(|(object, name)| Op::Rename { object, name }),
        rel => (pick(), pick()).prop_map(|(child, author)| Op::Set { child, author }),
        1 => pick().prop_map(|child| Op::Clear { child }),
        rel => (pick(), child_kind(), pick())
            .prop_map(|(author, kind, child)| Op::Push { author, kind, child }),
        rel => (pick(), child_kind(), pick())
            .prop_map(|(author, kind, child)| Op::Remove { author, kind, child }),
        rel => (pick(), child_kind()).prop_map(|(author, kind)| Op::LoadChildren { author, kind }),
        2 => pick().prop_map(|child| Op::LoadParent { child }),
        2 => pick().prop_map(|object| Op::Delete { object }),
        tx => Just(Op::Flush),
        tx => Just(Op::Commit),
        tx => Just(Op::Rollback),
        sp + 1 => Just(Op::BeginNested),
        sp => Just(Op::ReleaseSavepoint),
        sp => Just(Op::RollbackSavepoint),
        1 => Just(Op::Reopen),
    ]
}

/// Sequences per test: half of 2,000 on SQLite, of 200 on PostgreSQL,
/// where each step costs round trips (times `ORM_PROPTEST_SCALE`).
fn cases_each(db: &Database) -> u32 {
    common::proptest_cases(db, 2_000, 200).div_ceil(2)
}

/// Runs random sequences of `op(relations)` on `db`; a failure panics with
/// the smallest failing sequence proptest found.
fn check(db: &Database, relations: bool, max_len: usize) -> orm::Result<()> {
    setup(db)?;
    let mut runner = TestRunner::new(Config {
        cases: cases_each(db),
        // Shrunk failures are kept as the tests below, not in files.
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(relations), 1..max_len);
    if let Err(failure) = runner.run(&strategy, |ops| run(db, &ops).map_err(TestCaseError::fail)) {
        panic!("{failure}");
    }
    Ok(())
}

// ------------------------------------------------------ shrunk regressions

// Each test below replays a sequence proptest found and shrank. They fail
// while the library has the bug they name.

use Kind::{Author as A, Book as B, Fan as F, Note as N};

/// Replays `ops` on `db`, whose tables it creates.
fn replay(db: &Database, ops: &[Op]) -> orm::Result<()> {
    setup(db)?;
    run(db, ops).unwrap_or_else(|failure| panic!("{failure}"));
    Ok(())
}

backend_tests! {
    fn random_relationship_changes_agree_with_the_model(db) -> orm::Result<()> {
        check(&db, true, 32)
    }

    fn random_transactions_and_sessions_agree_with_the_model(db) -> orm::Result<()> {
        check(&db, false, 24)
    }

    fn the_seed_alone_agrees_with_the_model(db) -> orm::Result<()> {
        replay(&db, &[Op::Commit])
    }

    fn deleting_an_author_that_a_note_restricts_fails_as_a_foreign_key_constraint(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: A, id: 2 },
            Op::Delete { object: 0 },
            Op::LoadChildren { author: 0, kind: B },
        ])
    }

    fn rollback_makes_an_object_inserted_then_deleted_in_the_transaction_transient(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Add {
                kind: F,
                name: 0,
                author: None,
            },
            Op::Flush,
            Op::Delete { object: 0 },
            Op::Rollback,
        ])
    }

    fn rollback_leaves_an_object_inserted_in_the_transaction_with_the_values_it_has(db) -> orm::Result<()> {
        // The fan's foreign key was cleared after its insert; rollback must not
        // bring back the key of an author whose insert it undid.
        replay(&db, &[
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Add {
                kind: F,
                name: 0,
                author: Some(0),
            },
            Op::Flush,
            Op::Clear { child: 0 },
            Op::Flush,
            Op::Rollback,
        ])
    }

    fn rollback_leaves_no_stale_loaded_collection_on_an_author_added_in_the_transaction(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Get { kind: B, id: 1 },
            Op::Set {
                child: 0,
                author: 0,
            },
            Op::Rollback,
        ])
    }

    fn rollback_restores_a_field_changed_after_the_object_was_deleted(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Query { kind: A },
            Op::Delete { object: 1 },
            Op::Rename { object: 1, name: 0 },
            Op::Rollback,
        ])
    }

    fn rollback_restores_a_relationship_changed_after_the_child_was_deleted(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Query { kind: N },
            Op::Delete { object: 0 },
            Op::Get { kind: A, id: 2 },
            Op::Remove {
                author: 0,
                kind: N,
                child: 0,
            },
            Op::Rollback,
        ])
    }

    fn pushing_a_child_that_already_points_at_the_author_adds_it_to_the_loaded_collection(db) -> orm::Result<()> {
        // The fan keeps pointing at the author after it was taken out of the
        // session; pushing it back must put it in the (now loaded) collection.
        replay(&db, &[
            Op::Get { kind: A, id: 1 },
            Op::Add {
                kind: F,
                name: 0,
                author: Some(0),
            },
            Op::Delete { object: 1 },
            Op::LoadChildren { author: 0, kind: F },
            Op::Push {
                author: 0,
                kind: F,
                child: 0,
            },
        ])
    }

    fn rollback_restores_an_object_loaded_in_the_transaction_to_its_committed_row(db) -> orm::Result<()> {
        // Deleting author 1 set fan 1's key to NULL (ON DELETE SET NULL); the
        // fan is loaded after that, then the transaction is rolled back.
        replay(&db, &[
            Op::Query { kind: A },
            Op::Delete { object: 0 },
            Op::Query { kind: F },
            Op::Rollback,
        ])
    }

    fn rollback_leaves_an_object_inserted_then_deleted_in_the_transaction_with_its_values(db) -> orm::Result<()> {
        // Author 3 is inserted, deleted, renamed while deleted, then rolled
        // back: it leaves the session as the user left it.
        replay(&db, &[
            Op::Add {
                kind: A,
                name: 1,
                author: None,
            },
            Op::Get { kind: A, id: 1 },
            Op::Delete { object: 6 },
            Op::Get { kind: A, id: 2 },
            Op::Rename { object: 0, name: 0 },
            Op::Rollback,
        ])
    }

    fn rollback_leaves_no_stale_loaded_collection_on_an_author_added_then_deleted(db) -> orm::Result<()> {
        // Fan 1 is pushed into a new author's fans, the author is deleted
        // before any flush, and the transaction rolled back: fan 1 points at
        // author 1 again, so the new author's loaded fans must not hold it.
        replay(&db, &[
            Op::Get { kind: F, id: 1 },
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Push {
                author: 0,
                kind: F,
                child: 0,
            },
            Op::Delete { object: 1 },
            Op::Rollback,
        ])
    }

    fn a_graph_joining_a_session_leaves_a_deleted_member_where_it_is(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Query { kind: F },
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Set {
                child: 0,
                author: 0,
            },
            Op::Delete { object: 5 },
            Op::Delete { object: 2 },
            Op::Commit,
            Op::Add {
                kind: B,
                name: 0,
                author: Some(0),
            },
        ])
    }

    fn a_graph_joins_a_session_in_the_order_its_collections_hold(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Add {
                kind: F,
                name: 0,
                author: None,
            },
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Add {
                kind: F,
                name: 0,
                author: Some(0),
            },
            Op::Rollback,
            Op::Set {
                child: 6,
                author: 0,
            },
            Op::Add {
                kind: B,
                name: 0,
                author: Some(0),
            },
            Op::Get { kind: A, id: 1 },
        ])
    }

    fn a_child_read_again_by_rollback_keeps_pointing_at_its_loaded_parent(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Query { kind: F },
            Op::LoadParent { child: 0 },
            Op::Remove {
                author: 0,
                kind: F,
                child: 0,
            },
            Op::LoadChildren { author: 0, kind: B },
            Op::Rollback,
            Op::Delete { object: 4 },
            Op::Get { kind: A, id: 3 },
            Op::Remove {
                author: 0,
                kind: B,
                child: 0,
            },
        ])
    }

    fn a_child_read_again_by_rollback_still_reaches_its_deleted_parent(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: A, id: 1 },
            Op::Rename { object: 0, name: 0 },
            Op::LoadChildren { author: 0, kind: B },
            Op::Rollback,
            Op::Delete { object: 0 },
            Op::Delete { object: 0 },
            Op::Get { kind: A, id: 2 },
            Op::LoadParent { child: 0 },
        ])
    }

    fn a_changed_child_rolled_back_keeps_its_parent_object(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: B, id: 1 },
            Op::Rename { object: 0, name: 0 },
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::LoadParent { child: 0 },
            Op::Rollback,
            Op::Delete { object: 2 },
            Op::Get { kind: A, id: 2 },
            Op::LoadParent { child: 0 },
        ])
    }

    fn a_loaded_child_changed_then_rolled_back_keeps_its_parent_object(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: A, id: 1 },
            Op::LoadChildren { author: 0, kind: B },
            Op::Rename { object: 1, name: 0 },
            Op::Rollback,
            Op::Delete { object: 2 },
            Op::LoadChildren { author: 0, kind: B },
            Op::LoadParent { child: 0 },
        ])
    }

    fn rolling_back_to_a_savepoint_makes_what_was_inserted_since_transient(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: F, id: 1 },
            Op::BeginNested,
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Add {
                kind: B,
                name: 1,
                author: Some(0),
            },
            Op::Rename { object: 0, name: 2 },
            Op::Flush,
            Op::RollbackSavepoint,
            Op::Commit,
        ])
    }

    fn a_commit_while_a_savepoint_is_open_is_refused_with_nothing_changed(db) -> orm::Result<()> {
        replay(&db, &[
            Op::Get { kind: A, id: 1 },
            Op::BeginNested,
            Op::Rename { object: 0, name: 0 },
            Op::Add {
                kind: N,
                name: 0,
                author: Some(0),
            },
            Op::Commit,
            Op::ReleaseSavepoint,
            Op::Commit,
        ])
    }

    fn reopening_drops_the_savepoints_innermost_first_each_rolling_back(db) -> orm::Result<()> {
        replay(&db, &[
            Op::BeginNested,
            Op::Get { kind: B, id: 2 },
            Op::Rename { object: 0, name: 1 },
            Op::BeginNested,
            Op::Delete { object: 0 },
            Op::Add {
                kind: F,
                name: 0,
                author: None,
            },
            Op::BeginNested,
            Op::Reopen,
            Op::Query { kind: B },
        ])
    }

    // Savepoints: shrunk sequences the random ones found.

    fn a_rollback_to_a_savepoint_lets_an_author_taken_out_since_keep_only_the_children_still_linked(db) -> orm::Result<()> {
        // The author, new, joins again with a fan pushed into its
        // collection and is taken out again; the rollback gives the fan
        // back its own author (none), and the author's fans lose it.
        replay(&db, &[
            Op::Add { kind: A, name: 0, author: None },
            Op::Delete { object: 0 },
            Op::BeginNested,
            Op::Query { kind: Kind::Fan },
            Op::Push { author: 0, kind: Kind::Fan, child: 0 },
            Op::Delete { object: 0 },
            Op::RollbackSavepoint,
        ])
    }

    fn three_savepoints_rolled_back_in_turn_leave_the_new_author_with_its_new_book(db) -> orm::Result<()> {
        // The innermost rollback expires the author's books while the book
        // is persistent; the next makes the book new, the last the author.
        replay(&db, &[
            Op::BeginNested,
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::BeginNested,
            Op::Add {
                kind: B,
                name: 0,
                author: Some(0),
            },
            Op::BeginNested,
            Op::Reopen,
        ])
    }

    fn a_rollback_making_an_author_new_again_gives_its_expired_books_the_book_linked_to_it(db) -> orm::Result<()> {
        // The empty savepoint's rollback expires the author's books; the
        // rollback makes the author and the book transient, and the books
        // loaded with the book, which points at the author.
        replay(&db, &[
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Add {
                kind: B,
                name: 0,
                author: Some(0),
            },
            Op::BeginNested,
            Op::RollbackSavepoint,
            Op::Rollback,
        ])
    }

    fn a_child_discarded_by_a_savepoint_is_back_in_its_authors_collection_once_the_author_is_transient_too(db) -> orm::Result<()> {
        // The inner rollback discards the book (transient, still pointing at
        // the author); the books load again (the book kept aside, in no
        // session), then the outer rollback makes the author transient, and
        // the book is among its books again.
        replay(&db, &[
            Op::BeginNested,
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::BeginNested,
            Op::Add {
                kind: B,
                name: 0,
                author: Some(0),
            },
            Op::RollbackSavepoint,
            Op::LoadChildren { author: 0, kind: B },
            Op::RollbackSavepoint,
        ])
    }

    fn a_deleted_child_linked_to_an_author_inserted_since_a_savepoint_points_at_its_old_author_after_the_rollback(db) -> orm::Result<()> {
        // Book 1 is deleted before the savepoint, then pointed at a new
        // author, which is inserted; after the rollback the author is
        // transient, and the book must point at author 1 again.
        replay(&db, &[
            Op::Query { kind: B },
            Op::Delete { object: 0 },
            Op::BeginNested,
            Op::Add {
                kind: A,
                name: 0,
                author: None,
            },
            Op::Set {
                child: 0,
                author: 0,
            },
            Op::Flush,
            Op::RollbackSavepoint,
        ])
    }

    fn a_rollback_to_a_savepoint_gives_an_object_deleted_before_it_its_values_at_the_savepoint(db) -> orm::Result<()> {
        // Book 1, deleted and flushed, is renamed "v1" before the savepoint
        // and "v2" after it; the rollback brings back "v1", not its row's
        // "b1".
        replay(&db, &[
            Op::Query { kind: B },
            Op::Delete { object: 0 },
            Op::Flush,
            Op::Rename { object: 0, name: 1 },
            Op::BeginNested,
            Op::Rename { object: 0, name: 2 },
            Op::RollbackSavepoint,
        ])
    }
}
