//! Memory of holding 100,000 loaded rows: through the ORM or by hand. Two
//! measures: the heap the loaded rows hold (a counting allocator: live
//! bytes after loading minus before), and the peak resident set size.
//!
//! ```text
//! cargo build --release --example peak_memory
//! /usr/bin/time -v target/release/examples/peak_memory orm        # "Maximum resident set size"
//! /usr/bin/time -v target/release/examples/peak_memory rusqlite
//! /usr/bin/time -v target/release/examples/peak_memory orm --no-load   # the baseline
//! ```
//!
//! Both sides read the same rows from a database file (made and seeded
//! first, in a temporary directory, then deleted), so SQLite's own memory is
//! the page cache of one connection on each side, not the data. The loaded
//! rows are kept alive to the end (the ORM's handles and session; the
//! hand-written `Vec<PlainUser>` of the same columns, as plain code would
//! hold them), and the program prints the live heap per row and the peak
//! it saw (`VmHWM` from `/proc/self/status`, as `time -v` reports it).
//! `--rows N` changes the row count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use orm::prelude::*;
use rusqlite::Connection;

/// The benchmarks' models (users with posts, posts with comments), and
/// their rows.
#[path = "../benches/shared/models.rs"]
mod models;
#[path = "../benches/shared/seed.rs"]
mod seed;

use models::{Comment, Post, User};

/// The system allocator, counting the bytes live at any moment.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator with the same layout; the
// counter only adds and subtracts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A user as hand-written code holds one: its columns and nothing else.
struct PlainUser {
    #[allow(dead_code)] // read back only to make the row
    id: i64,
    #[allow(dead_code)]
    name: String,
    #[allow(dead_code)]
    email: String,
    age: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Orm,
    Rusqlite,
}

struct Args {
    side: Side,
    rows: usize,
    load: bool,
}

const USAGE: &str = "usage: peak_memory <orm|rusqlite> [--rows N] [--no-load]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let side = match args.next().as_deref() {
        Some("orm") => Side::Orm,
        Some("rusqlite") => Side::Rusqlite,
        _ => return Err(USAGE.to_owned()),
    };
    let mut parsed = Args {
        side,
        rows: 100_000,
        load: true,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-load" => parsed.load = false,
            "--rows" => {
                parsed.rows = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| USAGE.to_owned())?;
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    Ok(parsed)
}

/// Creates the database file with the models' DDL and `rows` users.
fn seed(path: &Path, rows: usize) -> rusqlite::Result<()> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let ddl = format!("{}{}{}", User::ddl(), Post::ddl(), Comment::ddl());
    conn.execute_batch(&ddl)?;
    conn.execute_batch(&seed::seed_sql(rows, 0, 0))
}

/// The peak resident set size so far, in KiB (`VmHWM`), where Linux says.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Prints what the rows cost: `before` is the live heap before loading.
fn report(side: &str, rows: usize, checksum: i64, before: usize) {
    let peak = peak_rss_kib().map_or("unknown".to_owned(), |k| format!("{k} KiB"));
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    let per_row = held.checked_div(rows).unwrap_or(0);
    println!(
        "{side}: {rows} rows held, checksum {checksum}, live heap of the rows {held} B ({per_row} B/row), peak RSS (VmHWM) {peak}"
    );
}

fn run_orm(path: &Path, load: bool) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::open(path)?;
    let session = db.session();
    // The connection and its prepared statement exist on both sides before
    // the count starts.
    session.query::<User>().limit(1).all()?;
    let before = LIVE.load(Ordering::Relaxed);
    let users = if load {
        session.query::<User>().all()?
    } else {
        Vec::new()
    };
    let mut checksum = 0;
    for user in &users {
        checksum += user.read()?.age;
    }
    report("orm", users.len(), checksum, before);
    // `users` and `session` (which owns the objects) live until here.
    drop(users);
    drop(session);
    Ok(())
}

fn run_rusqlite(path: &Path, load: bool) -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let sql = "SELECT id, name, email, age FROM users";
    conn.prepare_cached(&format!("{sql} LIMIT 1"))?
        .query([])?
        .next()?;
    conn.prepare_cached(sql)?;
    let before = LIVE.load(Ordering::Relaxed);
    let users: Vec<PlainUser> = if load {
        let mut stmt = conn.prepare_cached(sql)?;
        stmt.query_map([], |row| {
            Ok(PlainUser {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
                age: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    } else {
        Vec::new()
    };
    let checksum = users.iter().map(|u| u.age).sum();
    report("rusqlite", users.len(), checksum, before);
    drop(users);
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let path: PathBuf =
        std::env::temp_dir().join(format!("orm-peak-memory-{}.db", std::process::id()));
    let result = seed(&path, args.rows)
        .map_err(Box::<dyn std::error::Error>::from)
        .and_then(|()| match args.side {
            Side::Orm => run_orm(&path, args.load),
            Side::Rusqlite => run_rusqlite(&path, args.load),
        });
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    if let Err(e) = result {
        eprintln!("peak_memory: {e}");
        std::process::exit(1);
    }
}
