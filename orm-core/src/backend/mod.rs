//! Backends: what differs per database, and only that. SQLite (rusqlite,
//! `bundled`) is the one backend today: how values cross into the driver
//! and back, how rows are read, and how the driver's errors become
//! [`Error`](crate::Error)s. Nothing above `sql` sees a driver type.

pub(crate) mod sqlite;
