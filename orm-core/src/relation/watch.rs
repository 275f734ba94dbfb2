//! The N+1 watch: counts the lazy loads of each relationship since the
//! last query of its owner's table, and warns once (or fails, in strict
//! mode) when one relationship keeps loading object by object, naming the
//! `preload` that would load them all in one statement. Django's nplusone
//! and Rails' bullet do this outside their ORMs; here the session knows.

use std::cell::RefCell;

use crate::database::Database;
use crate::error::{Error, Result};

/// What the session does when one relationship loads lazily for object
/// after object of one query's result (the "N+1" pattern).
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # #[orm(table = "users")]
/// # struct User { #[orm(primary_key)] id: i64, name: String,
/// #   #[orm(back_populates = "user")] orders: HasMany<Order> }
/// # #[derive(Model, Debug)]
/// # #[orm(table = "orders")]
/// # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
/// #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<(User, Order)>()?;
/// # let session = db.session();
/// # for name in ["a", "b", "c"] { session.add(User::new(name)); }
/// # session.commit()?;
/// db.set_n_plus_one(orm::NPlusOne::Strict { after: 2 });
/// let session = db.session();
/// let users = session.query::<User>().all()?;
/// users[0].read()?.orders.load()?;
/// let second = users[1].read()?.orders.load();
/// assert!(matches!(second, Err(orm::Error::NPlusOne { .. })));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NPlusOne {
    /// Nothing is watched.
    Off,
    /// The `after`-th lazy load of one relationship since the last query
    /// of its owner's table warns once, through the echo, the `log` facade
    /// (`warn`, target `orm::sql`) and the recorders
    /// ([`Recorder::warnings`](crate::Recorder::warnings)). The default,
    /// with `after: 3`.
    Warn {
        /// How many lazy loads make the pattern.
        after: usize,
    },
    /// As `Warn`, but that load fails with [`Error::NPlusOne`] (running
    /// nothing): for tests that must not hide an N+1.
    Strict {
        /// How many lazy loads make the pattern.
        after: usize,
    },
}

impl Default for NPlusOne {
    fn default() -> Self {
        NPlusOne::Warn { after: 3 }
    }
}

impl Database {
    /// Sets what sessions of this database do about N+1 lazy loading (see
    /// [`NPlusOne`]); sessions opened before keep their setting.
    pub fn set_n_plus_one(&self, watch: NPlusOne) {
        self.shared.observers.set_n_plus_one(watch);
    }
}

/// One relationship's lazy loads since the last query of its owner.
#[derive(Debug)]
struct Seen {
    model: &'static str,
    field: &'static str,
    owner_table: &'static str,
    loads: usize,
    warned: bool,
}

/// A session's N+1 watch: see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct LazyWatch {
    seen: RefCell<Vec<Seen>>,
    /// Tables a query of this session read (so a warning can point at it).
    queried: RefCell<Vec<&'static str>>,
}

impl LazyWatch {
    /// A query of `table` ran: its objects start a new result, so the
    /// relationships they own count from zero.
    pub(crate) fn query_of(&self, table: &'static str) {
        self.seen.borrow_mut().retain(|s| s.owner_table != table);
        let mut queried = self.queried.borrow_mut();
        if !queried.contains(&table) {
            queried.push(table);
        }
    }

    /// A lazy load of `model.field` (owned by a row of `owner_table`) is
    /// about to run. Returns the warning to give, if this load makes the
    /// pattern; `Err` in strict mode.
    pub(crate) fn lazy_load(
        &self,
        watch: NPlusOne,
        model: &'static str,
        field: &'static str,
        owner_table: &'static str,
    ) -> Result<Option<String>> {
        let after = match watch {
            NPlusOne::Off => return Ok(None),
            NPlusOne::Warn { after } | NPlusOne::Strict { after } => after.max(1),
        };
        let mut seen = self.seen.borrow_mut();
        let entry = match seen
            .iter()
            .position(|s| s.model == model && s.field == field)
        {
            Some(at) => &mut seen[at],
            None => {
                seen.push(Seen {
                    model,
                    field,
                    owner_table,
                    loads: 0,
                    warned: false,
                });
                let last = seen.len() - 1;
                &mut seen[last]
            }
        };
        entry.loads += 1;
        if entry.warned || entry.loads < after {
            return Ok(None);
        }
        entry.warned = true;
        let constant = format!("{model}::{}", field.to_uppercase());
        let fix = if self.queried.borrow().contains(&owner_table) {
            format!(
                "{} lazy loads of {model}.{field} after one query of {owner_table}: add `.preload({constant})` to the query (1 statement instead of one per object)",
                entry.loads
            )
        } else {
            format!(
                "{} lazy loads of {model}.{field}, one per row of {owner_table}: preload `{constant}` with the query that reads them (`.then({constant})` after the relationship that loads them), 1 statement instead of one per object",
                entry.loads
            )
        };
        match watch {
            NPlusOne::Strict { .. } => Err(Error::NPlusOne {
                relationship: format!("{model}.{field}"),
                loads: entry.loads,
                fix,
            }),
            _ => Ok(Some(fix)),
        }
    }
}
