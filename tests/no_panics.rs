//! No panics and no leaks (design point 17 and the ownership rules of the
//! crate docs).
//!
//! - Random operation sequences, misuse included (two sessions mixing
//!   objects, handles kept after their session is dropped, operations run
//!   while a read or write guard of an object is held, deleted and detached
//!   objects used again, busy databases), each operation run under
//!   `catch_unwind`: any panic is a failure, reported with the operation and
//!   where the panic came from. Every sequence must also free every object
//!   once the sessions and handles are dropped.
//! - Random object graphs with cycles (an employee managing its own manager,
//!   or itself), built, committed, reloaded eagerly and lazily, with a random
//!   set of handles kept: once the session is gone exactly the kept objects
//!   are alive, and once the handles are gone none is.
//!
//! Each model carries a `DropCounter` in a skipped field, counting values
//! made and dropped on the test's thread.
//!
//! Sequences: 500 of each on SQLite, 200 on PostgreSQL, times
//! `ORM_PROPTEST_SCALE` (see `common::proptest_cases`). Each test
//! runs on SQLite and on PostgreSQL; the cases of one test share its
//! database, whose tables each case drops and creates again.

use crate::common;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::time::Duration;

use orm::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ----------------------------------------------------------- drop counter

thread_local! {
    static MADE: Cell<usize> = const { Cell::new(0) };
    static DROPPED: Cell<usize> = const { Cell::new(0) };
}

/// Counts itself in `MADE` when made and in `DROPPED` when dropped.
#[derive(Debug)]
pub struct DropCounter;

impl Default for DropCounter {
    fn default() -> Self {
        MADE.with(|n| n.set(n.get() + 1));
        DropCounter
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        DROPPED.with(|n| n.set(n.get() + 1));
    }
}

/// How many counted values made on this thread are still alive.
fn alive() -> usize {
    MADE.with(Cell::get) - DROPPED.with(Cell::get)
}

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "employees")]
pub struct Employee {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Small values, so that flushes often violate UNIQUE.
    #[orm(unique)]
    pub code: i64,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(optional, on_delete = "set null", back_populates = "reports")]
    pub manager: BelongsTo<Employee>,
    #[orm(back_populates = "manager")]
    pub reports: HasMany<Employee>,
    #[orm(back_populates = "owner")]
    pub desk: HasOne<Desk>,
    #[orm(through = "memberships", back_populates = "members")]
    pub teams: ManyToMany<Team>,
}

#[derive(Model, Debug)]
#[orm(table = "desks")]
pub struct Desk {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(unique, optional, on_delete = "cascade", back_populates = "desk")]
    pub owner: BelongsTo<Employee>,
}

#[derive(Model, Debug)]
#[orm(table = "teams")]
pub struct Team {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(through = "memberships", back_populates = "teams")]
    pub members: ManyToMany<Employee>,
}

/// Creates the tables in `db`, which the cases of a test share.
fn database(db: &Database) -> orm::Result<()> {
    db.create_all::<(Employee, Desk, Team)>()?;
    // Two sessions of one in-memory SQLite database block each other, and
    // two on PostgreSQL when they write one row; a short timeout turns that
    // into quick `Busy` errors instead of waits.
    db.set_busy_timeout(Duration::from_millis(1))
        .expect("a busy timeout SQLite accepts");
    Ok(())
}

/// Empties the tables for a new case, so that the keys the database
/// assigns start from 1 again: SQLite's do by themselves (no
/// AUTOINCREMENT), PostgreSQL's sequences are set back. (Cheaper than
/// dropping and creating the tables, which on PostgreSQL takes longer than
/// the case itself.)
fn empty(db: &Database) -> orm::Result<()> {
    db.execute_batch(
        "DELETE FROM memberships; DELETE FROM desks; DELETE FROM employees; DELETE FROM teams;",
    )?;
    if db.backend() == orm::Backend::Postgres {
        db.execute_batch(
            "SELECT setval(pg_get_serial_sequence('employees', 'id'), 1, false), \
                    setval(pg_get_serial_sequence('desks', 'id'), 1, false), \
                    setval(pg_get_serial_sequence('teams', 'id'), 1, false)",
        )?;
    }
    Ok(())
}

/// Runs `test` on `db` with the cases `strategy` generates (500 on SQLite,
/// 200 on PostgreSQL, times `ORM_PROPTEST_SCALE`), nothing persisted; a
/// failure panics with the smallest failing input proptest found.
fn check<S: Strategy>(db: &Database, strategy: S, test: impl Fn(S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: common::proptest_cases(db, 500, 200),
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, |value| test(value).map_err(TestCaseError::fail)) {
        panic!("{failure}");
    }
}

// ------------------------------------------------------- panic reporting

thread_local! {
    /// Where the last panic on this thread came from, and what it said.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's message and location for the failure report,
/// then lets the usual hook print it.
fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message} (at {location})")));
            previous(info);
        }));
    });
}

/// Runs `f`; a panic becomes an error naming it.
fn no_panic<R>(what: impl std::fmt::Debug, f: impl FnOnce() -> R) -> Result<R, String> {
    record_panics();
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let panic = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_default();
        format!("{what:?} panicked: {panic}")
    })
}

// ------------------------------------------------------------- operations

/// One step. Objects are picked by index modulo those of the fitting kind;
/// sessions by index modulo two slots (an empty slot skips the step).
#[derive(Debug, Clone)]
pub enum Op {
    AddEmployee {
        session: usize,
        code: i64,
    },
    AddDesk {
        session: usize,
    },
    AddTeam {
        session: usize,
    },
    Get {
        session: usize,
        kind: u8,
        id: i64,
    },
    Query {
        session: usize,
        kind: u8,
        preload: bool,
    },
    Rename {
        object: usize,
    },
    Recode {
        employee: usize,
        code: i64,
    },
    SetManager {
        employee: usize,
        manager: usize,
    },
    ClearManager {
        employee: usize,
    },
    PushReport {
        manager: usize,
        employee: usize,
    },
    RemoveReport {
        manager: usize,
        employee: usize,
    },
    LoadReports {
        employee: usize,
    },
    LoadManager {
        employee: usize,
    },
    SetDesk {
        employee: usize,
        desk: usize,
    },
    ClearDesk {
        employee: usize,
    },
    LoadDesk {
        employee: usize,
    },
    SetOwner {
        desk: usize,
        employee: usize,
    },
    Join {
        employee: usize,
        team: usize,
        from_team: bool,
    },
    Leave {
        employee: usize,
        team: usize,
    },
    LoadTeams {
        employee: usize,
    },
    LoadMembers {
        team: usize,
    },
    Delete {
        session: usize,
        object: usize,
    },
    AddHandle {
        session: usize,
        object: usize,
    },
    Refresh {
        session: usize,
        object: usize,
    },
    Flush {
        session: usize,
    },
    Commit {
        session: usize,
    },
    Rollback {
        session: usize,
    },
    Plan {
        session: usize,
    },
    Clear {
        session: usize,
    },
    Autoflush {
        session: usize,
        on: bool,
    },
    /// Drops the session in this slot (its handles live on).
    DropSession {
        session: usize,
    },
    OpenSession {
        session: usize,
    },
    ForgetHandle {
        object: usize,
    },
    /// Runs the inner step while holding a read or a write guard.
    Guarded {
        write: bool,
        object: usize,
        inner: Box<Op>,
    },
}

/// A handle of any of the three models.
#[derive(Clone)]
enum Obj {
    Employee(Handle<Employee>),
    Desk(Handle<Desk>),
    Team(Handle<Team>),
}

/// The state of one sequence: two session slots and every handle seen.
struct Run {
    db: Database,
    sessions: [Option<Session>; 2],
    objects: Vec<Obj>,
}

impl Run {
    fn session(&self, i: usize) -> Option<&Session> {
        self.sessions[i % 2].as_ref()
    }

    fn pick(&self, i: usize, fits: impl Fn(&Obj) -> bool) -> Option<Obj> {
        let fitting: Vec<&Obj> = self.objects.iter().filter(|o| fits(o)).collect();
        (!fitting.is_empty()).then(|| fitting[i % fitting.len()].clone())
    }

    fn employee(&self, i: usize) -> Option<Handle<Employee>> {
        match self.pick(i, |o| matches!(o, Obj::Employee(_)))? {
            Obj::Employee(h) => Some(h),
            _ => None,
        }
    }

    fn desk(&self, i: usize) -> Option<Handle<Desk>> {
        match self.pick(i, |o| matches!(o, Obj::Desk(_)))? {
            Obj::Desk(h) => Some(h),
            _ => None,
        }
    }

    fn team(&self, i: usize) -> Option<Handle<Team>> {
        match self.pick(i, |o| matches!(o, Obj::Team(_)))? {
            Obj::Team(h) => Some(h),
            _ => None,
        }
    }

    fn keep<T>(&mut self, found: orm::Result<Vec<Handle<T>>>, wrap: fn(Handle<T>) -> Obj)
    where
        T: Model,
    {
        if let Ok(found) = found {
            self.objects.extend(found.into_iter().map(wrap));
        }
    }

    /// Runs one step; every library error is an acceptable outcome.
    fn step(&mut self, op: &Op) {
        match op {
            Op::AddEmployee { session, code } => {
                if let Some(s) = self.session(*session) {
                    let h = s.add(Employee::new("e", *code));
                    self.objects.push(Obj::Employee(h));
                }
            }
            Op::AddDesk { session } => {
                if let Some(s) = self.session(*session) {
                    let h = s.add(Desk::new("d"));
                    self.objects.push(Obj::Desk(h));
                }
            }
            Op::AddTeam { session } => {
                if let Some(s) = self.session(*session) {
                    let h = s.add(Team::new("t"));
                    self.objects.push(Obj::Team(h));
                }
            }
            Op::Get { session, kind, id } => {
                let Some(s) = self.session(*session) else {
                    return;
                };
                let found = match kind % 3 {
                    0 => s.get::<Employee>(*id).map(Obj::Employee),
                    1 => s.get::<Desk>(*id).map(Obj::Desk),
                    _ => s.get::<Team>(*id).map(Obj::Team),
                };
                if let Ok(found) = found {
                    self.objects.push(found);
                }
            }
            Op::Query {
                session,
                kind,
                preload,
            } => {
                let Some(s) = self.session(*session) else {
                    return;
                };
                match kind % 3 {
                    0 => {
                        let mut q = s.query::<Employee>();
                        if *preload {
                            q = q
                                .preload(Employee::REPORTS.then(Employee::DESK))
                                .preload(Employee::MANAGER)
                                .preload(Employee::TEAMS.then(Team::MEMBERS));
                        }
                        let found = q.all();
                        self.keep(found, Obj::Employee);
                    }
                    1 => {
                        let mut q = s.query::<Desk>();
                        if *preload {
                            q = q.preload(Desk::OWNER.then(Employee::REPORTS));
                        }
                        let found = q.all();
                        self.keep(found, Obj::Desk);
                    }
                    _ => {
                        let mut q = s.query::<Team>();
                        if *preload {
                            q = q.preload(Team::MEMBERS);
                        }
                        let found = q.all();
                        self.keep(found, Obj::Team);
                    }
                }
            }
            Op::Rename { object } => match self.pick(*object, |_| true) {
                Some(Obj::Employee(h)) => {
                    let _ = h.write().map(|mut e| e.name.push('!'));
                }
                Some(Obj::Desk(h)) => {
                    let _ = h.write().map(|mut d| d.label.push('!'));
                }
                Some(Obj::Team(h)) => {
                    let _ = h.write().map(|mut t| t.name.push('!'));
                }
                None => {}
            },
            Op::Recode { employee, code } => {
                if let Some(e) = self.employee(*employee) {
                    let _ = e.write().map(|mut e| e.code = *code);
                }
            }
            Op::SetManager { employee, manager } => {
                if let (Some(e), Some(m)) = (self.employee(*employee), self.employee(*manager)) {
                    let _ = e.read().map(|e| e.manager.set(&m));
                }
            }
            Op::ClearManager { employee } => {
                if let Some(e) = self.employee(*employee) {
                    let _ = e.read().map(|e| e.manager.clear());
                }
            }
            Op::PushReport { manager, employee } => {
                if let (Some(m), Some(e)) = (self.employee(*manager), self.employee(*employee)) {
                    let _ = m.read().map(|m| m.reports.push(&e));
                }
            }
            Op::RemoveReport { manager, employee } => {
                if let (Some(m), Some(e)) = (self.employee(*manager), self.employee(*employee)) {
                    let _ = m.read().map(|m| m.reports.remove(&e));
                }
            }
            Op::LoadReports { employee } => {
                if let Some(e) = self.employee(*employee) {
                    let found = e.read().and_then(|e| e.reports.load());
                    self.keep(found, Obj::Employee);
                }
            }
            Op::LoadManager { employee } => {
                if let Some(e) = self.employee(*employee)
                    && let Ok(Ok(Some(m))) = e.read().map(|e| e.manager.load_optional())
                {
                    self.objects.push(Obj::Employee(m));
                }
            }
            Op::SetDesk { employee, desk } => {
                if let (Some(e), Some(d)) = (self.employee(*employee), self.desk(*desk)) {
                    let _ = e.read().map(|e| e.desk.set(&d));
                }
            }
            Op::ClearDesk { employee } => {
                if let Some(e) = self.employee(*employee) {
                    let _ = e.read().map(|e| e.desk.clear());
                }
            }
            Op::LoadDesk { employee } => {
                if let Some(e) = self.employee(*employee)
                    && let Ok(Ok(Some(d))) = e.read().map(|e| e.desk.load())
                {
                    self.objects.push(Obj::Desk(d));
                }
            }
            Op::SetOwner { desk, employee } => {
                if let (Some(d), Some(e)) = (self.desk(*desk), self.employee(*employee)) {
                    let _ = d.read().map(|d| d.owner.set(&e));
                }
            }
            Op::Join {
                employee,
                team,
                from_team,
            } => {
                if let (Some(e), Some(t)) = (self.employee(*employee), self.team(*team)) {
                    if *from_team {
                        let _ = t.read().map(|t| t.members.add(&e));
                    } else {
                        let _ = e.read().map(|e| e.teams.add(&t));
                    }
                }
            }
            Op::Leave { employee, team } => {
                if let (Some(e), Some(t)) = (self.employee(*employee), self.team(*team)) {
                    let _ = e.read().map(|e| e.teams.remove(&t));
                }
            }
            Op::LoadTeams { employee } => {
                if let Some(e) = self.employee(*employee) {
                    let found = e.read().and_then(|e| e.teams.load());
                    self.keep(found, Obj::Team);
                }
            }
            Op::LoadMembers { team } => {
                if let Some(t) = self.team(*team) {
                    let found = t.read().and_then(|t| t.members.load());
                    self.keep(found, Obj::Employee);
                }
            }
            Op::Delete { session, object } => {
                if let (Some(s), Some(o)) = (self.session(*session), self.pick(*object, |_| true)) {
                    let _ = match &o {
                        Obj::Employee(h) => s.delete(h),
                        Obj::Desk(h) => s.delete(h),
                        Obj::Team(h) => s.delete(h),
                    };
                }
            }
            Op::AddHandle { session, object } => {
                if let (Some(s), Some(o)) = (self.session(*session), self.pick(*object, |_| true)) {
                    let _ = match &o {
                        Obj::Employee(h) => s.add_handle(h),
                        Obj::Desk(h) => s.add_handle(h),
                        Obj::Team(h) => s.add_handle(h),
                    };
                }
            }
            Op::Refresh { session, object } => {
                if let (Some(s), Some(o)) = (self.session(*session), self.pick(*object, |_| true)) {
                    let _ = match &o {
                        Obj::Employee(h) => s.refresh(h),
                        Obj::Desk(h) => s.refresh(h),
                        Obj::Team(h) => s.refresh(h),
                    };
                }
            }
            Op::Flush { session } => {
                if let Some(s) = self.session(*session) {
                    let _ = s.flush();
                }
            }
            Op::Commit { session } => {
                if let Some(s) = self.session(*session) {
                    let _ = s.commit();
                }
            }
            Op::Rollback { session } => {
                if let Some(s) = self.session(*session) {
                    let _ = s.rollback();
                }
            }
            Op::Plan { session } => {
                if let Some(s) = self.session(*session) {
                    let _ = s.flush_plan().map(|plan| plan.to_string());
                    let _ = (s.len(), s.has_changes());
                }
            }
            Op::Clear { session } => {
                if let Some(s) = self.session(*session) {
                    s.clear();
                }
            }
            Op::Autoflush { session, on } => {
                if let Some(s) = self.session(*session) {
                    s.set_autoflush(*on);
                }
            }
            Op::DropSession { session } => {
                self.sessions[session % 2] = None;
            }
            Op::OpenSession { session } => {
                self.sessions[session % 2] = Some(self.db.session());
            }
            Op::ForgetHandle { object } => {
                if !self.objects.is_empty() {
                    let i = object % self.objects.len();
                    self.objects.swap_remove(i);
                }
            }
            Op::Guarded {
                write,
                object,
                inner,
            } => {
                let Some(o) = self.pick(*object, |_| true) else {
                    return;
                };
                macro_rules! guarded {
                    ($h:expr) => {
                        if *write {
                            let _guard = $h.write();
                            self.step(inner);
                        } else {
                            let _guard = $h.read();
                            self.step(inner);
                        }
                    };
                }
                match &o {
                    Obj::Employee(h) => guarded!(h),
                    Obj::Desk(h) => guarded!(h),
                    Obj::Team(h) => guarded!(h),
                }
            }
        }
    }
}

/// Runs a sequence, each step under `catch_unwind`; then drops everything
/// and checks that every object was freed.
fn run(db: &Database, ops: &[Op]) -> Result<(), String> {
    let before = alive();
    {
        empty(db).map_err(|e| format!("setting up: {e:?}"))?;
        let mut run = Run {
            sessions: [Some(db.session()), Some(db.session())],
            db: db.clone(),
            objects: Vec::new(),
        };
        for (n, op) in ops.iter().enumerate() {
            no_panic(format!("step {n}: {op:?}"), || run.step(op))?;
            // Reading every object back must not panic either.
            no_panic(format!("reading after step {n}"), || {
                for object in &run.objects {
                    let _ = match object {
                        Obj::Employee(h) => (h.state(), h.key().ok(), format!("{h:?}")),
                        Obj::Desk(h) => (h.state(), h.key().ok(), format!("{h:?}")),
                        Obj::Team(h) => (h.state(), h.key().ok(), format!("{h:?}")),
                    };
                }
            })?;
        }
        no_panic("dropping the sessions and handles", move || drop(run))?;
    }
    let leaked = alive() - before;
    if leaked > 0 {
        return Err(format!(
            "{leaked} object(s) still alive after everything was dropped"
        ));
    }
    Ok(())
}

fn op() -> impl Strategy<Value = Op> {
    let s = || 0usize..2;
    let o = || 0usize..12;
    let leaf = prop_oneof![
        3 => (s(), 0i64..4).prop_map(|(session, code)| Op::AddEmployee { session, code }),
        1 => s().prop_map(|session| Op::AddDesk { session }),
        1 => s().prop_map(|session| Op::AddTeam { session }),
        2 => (s(), 0u8..3, 1i64..5).prop_map(|(session, kind, id)| Op::Get { session, kind, id }),
        2 => (s(), 0u8..3, any::<bool>())
            .prop_map(|(session, kind, preload)| Op::Query { session, kind, preload }),
        2 => o().prop_map(|object| Op::Rename { object }),
        1 => (o(), 0i64..4).prop_map(|(employee, code)| Op::Recode { employee, code }),
        3 => (o(), o()).prop_map(|(employee, manager)| Op::SetManager { employee, manager }),
        1 => o().prop_map(|employee| Op::ClearManager { employee }),
        2 => (o(), o()).prop_map(|(manager, employee)| Op::PushReport { manager, employee }),
        2 => (o(), o()).prop_map(|(manager, employee)| Op::RemoveReport { manager, employee }),
        2 => o().prop_map(|employee| Op::LoadReports { employee }),
        2 => o().prop_map(|employee| Op::LoadManager { employee }),
        1 => (o(), o()).prop_map(|(employee, desk)| Op::SetDesk { employee, desk }),
        1 => o().prop_map(|employee| Op::ClearDesk { employee }),
        1 => o().prop_map(|employee| Op::LoadDesk { employee }),
        1 => (o(), o()).prop_map(|(desk, employee)| Op::SetOwner { desk, employee }),
        2 => (o(), o(), any::<bool>())
            .prop_map(|(employee, team, from_team)| Op::Join { employee, team, from_team }),
        1 => (o(), o()).prop_map(|(employee, team)| Op::Leave { employee, team }),
        1 => o().prop_map(|employee| Op::LoadTeams { employee }),
        1 => o().prop_map(|team| Op::LoadMembers { team }),
        2 => (s(), o()).prop_map(|(session, object)| Op::Delete { session, object }),
        1 => (s(), o()).prop_map(|(session, object)| Op::AddHandle { session, object }),
        1 => (s(), o()).prop_map(|(session, object)| Op::Refresh { session, object }),
        2 => s().prop_map(|session| Op::Flush { session }),
        2 => s().prop_map(|session| Op::Commit { session }),
        2 => s().prop_map(|session| Op::Rollback { session }),
        1 => s().prop_map(|session| Op::Plan { session }),
        1 => s().prop_map(|session| Op::Clear { session }),
        1 => (s(), any::<bool>()).prop_map(|(session, on)| Op::Autoflush { session, on }),
        1 => s().prop_map(|session| Op::DropSession { session }),
        1 => s().prop_map(|session| Op::OpenSession { session }),
        1 => o().prop_map(|object| Op::ForgetHandle { object }),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| {
        (any::<bool>(), 0usize..12, inner).prop_map(|(write, object, inner)| Op::Guarded {
            write,
            object,
            inner: Box::new(inner),
        })
    })
}

// ------------------------------------------------------ graphs with cycles

/// A random graph: employees with a manager each (any employee, itself
/// included, so cycles are common), desks, teams and memberships.
#[derive(Debug, Clone)]
pub struct Graph {
    managers: Vec<Option<usize>>,
    desks: Vec<Option<usize>>,
    teams: usize,
    memberships: Vec<(usize, usize)>,
    /// Which handles the user keeps after the session is dropped.
    keep: Vec<bool>,
    end: End,
    preload: bool,
}

/// How the building session ends before it is dropped.
#[derive(Debug, Clone, Copy)]
enum End {
    Commit,
    Rollback,
    JustDrop,
}

fn graph() -> impl Strategy<Value = Graph> {
    (1usize..10, 0usize..4).prop_flat_map(|(n, teams)| {
        (
            proptest::collection::vec(proptest::option::of(0..n), n),
            proptest::collection::vec(proptest::option::of(0..n), 0..n),
            proptest::collection::vec((0..n, 0..teams.max(1)), 0..2 * n),
            proptest::collection::vec(any::<bool>(), 3 * n + teams),
            prop_oneof![Just(End::Commit), Just(End::Rollback), Just(End::JustDrop)],
            any::<bool>(),
        )
            .prop_map(
                move |(managers, desks, memberships, keep, end, preload)| Graph {
                    managers,
                    desks,
                    teams,
                    memberships: if teams == 0 { Vec::new() } else { memberships },
                    keep,
                    end,
                    preload,
                },
            )
    })
}

fn same(a: &Obj, b: &Obj) -> bool {
    match (a, b) {
        (Obj::Employee(a), Obj::Employee(b)) => a == b,
        (Obj::Desk(a), Obj::Desk(b)) => a == b,
        (Obj::Team(a), Obj::Team(b)) => a == b,
        _ => false,
    }
}

/// Keeps the handles `keep` picks, drops the rest, and returns them.
fn keep_some(all: Vec<Obj>, keep: &[bool]) -> Vec<Obj> {
    all.into_iter()
        .zip(keep.iter().chain(std::iter::repeat(&false)))
        .filter(|(_, k)| **k)
        .map(|(o, _)| o)
        .collect()
}

/// Builds the graph in one session; returns every handle it made.
fn build(session: &Session, g: &Graph) -> orm::Result<Vec<Obj>> {
    let employees: Vec<Handle<Employee>> = (0..g.managers.len())
        .map(|i| session.add(Employee::new(format!("e{i}"), i as i64)))
        .collect();
    let teams: Vec<Handle<Team>> = (0..g.teams)
        .map(|i| session.add(Team::new(format!("t{i}"))))
        .collect();
    // New objects may not point at each other in a cycle: insert them first.
    session.flush()?;
    for (e, m) in employees.iter().zip(&g.managers) {
        if let Some(m) = m {
            e.read()?.manager.set(&employees[*m])?;
        }
    }
    let mut desks = Vec::new();
    for (i, owner) in g.desks.iter().enumerate() {
        let desk = session.add(Desk::new(format!("d{i}")));
        if let Some(owner) = owner {
            // Each employee has one desk at most (UNIQUE owner).
            if !g.desks[..i].contains(&Some(*owner)) {
                employees[*owner].read()?.desk.set(&desk)?;
            }
        }
        desks.push(desk);
    }
    for (e, t) in &g.memberships {
        employees[*e].read()?.teams.add(&teams[*t])?;
    }
    for e in &employees {
        e.read()?.reports.load()?;
    }
    session.flush()?;
    let mut all: Vec<Obj> = employees.into_iter().map(Obj::Employee).collect();
    all.extend(desks.into_iter().map(Obj::Desk));
    all.extend(teams.into_iter().map(Obj::Team));
    Ok(all)
}

/// Loads every row back, eagerly or lazily, following every relationship.
fn reload(session: &Session, preload: bool) -> orm::Result<Vec<Obj>> {
    let mut query = session.query::<Employee>();
    if preload {
        query = query
            .preload(Employee::REPORTS.then(Employee::REPORTS))
            .preload(Employee::MANAGER)
            .preload(Employee::DESK)
            .preload(Employee::TEAMS.then(Team::MEMBERS));
    }
    let employees = query.all()?;
    let mut all = Vec::new();
    for e in &employees {
        let e = e.read()?;
        e.manager.load_optional()?;
        e.reports.load()?;
        if let Some(desk) = e.desk.load()? {
            all.push(Obj::Desk(desk));
        }
        for team in e.teams.load()? {
            team.read()?.members.load()?;
            all.push(Obj::Team(team));
        }
    }
    all.extend(employees.into_iter().map(Obj::Employee));
    Ok(all)
}

fn check_graph(db: &Database, g: &Graph) -> Result<(), String> {
    let err = |e: orm::Error| format!("{e:?}");
    let start = alive();
    empty(db).map_err(err)?;
    let kept = {
        let session = db.session();
        let all = build(&session, g).map_err(err)?;
        match g.end {
            End::Commit => session.commit().map_err(err)?,
            End::Rollback => session.rollback().map_err(err)?,
            End::JustDrop => {}
        }
        keep_some(all, &g.keep)
    };
    if alive() - start != kept.len() {
        return Err(format!(
            "after the building session: {} alive, {} kept",
            alive() - start,
            kept.len()
        ));
    }
    drop(kept);
    if alive() != start {
        return Err(format!(
            "{} alive after every handle was dropped",
            alive() - start
        ));
    }
    let kept = {
        let session = db.session();
        let all = reload(&session, g.preload).map_err(err)?;
        keep_some(all, &g.keep)
    };
    // A row reached twice (say, a team through two members) is one object.
    let mut distinct: Vec<&Obj> = Vec::new();
    for o in &kept {
        if !distinct.iter().any(|d| same(d, o)) {
            distinct.push(o);
        }
    }
    let distinct = distinct.len();
    if alive() - start != distinct {
        return Err(format!(
            "after the reloading session: {} alive, {distinct} kept",
            alive() - start
        ));
    }
    drop(kept);
    if alive() != start {
        return Err(format!(
            "{} alive after every handle was dropped",
            alive() - start
        ));
    }
    Ok(())
}

backend_tests! {
    fn random_operations_never_panic_and_free_every_object(db) -> orm::Result<()> {
        database(&db)?;
        check(&db, proptest::collection::vec(op(), 1..40), |ops| run(&db, &ops));
        Ok(())
    }

    fn random_graphs_with_cycles_are_freed_with_their_session_and_handles(db) -> orm::Result<()> {
        database(&db)?;
        check(&db, graph(), |g| check_graph(&db, &g));
        Ok(())
    }

    fn an_employee_managing_itself_and_a_two_cycle_are_freed(db) -> orm::Result<()> {
        let g = Graph {
            managers: vec![Some(0), Some(2), Some(1)],
            desks: vec![Some(1)],
            teams: 1,
            memberships: vec![(0, 0), (1, 0), (2, 0)],
            keep: vec![false, true, false, false, false],
            end: End::Commit,
            preload: true,
        };
        database(&db)?;
        check_graph(&db, &g).unwrap_or_else(|e| panic!("{e}"));
        Ok(())
    }
}
