//! Tracing, with the `tracing` feature: a span per flush (`orm.flush`,
//! INFO) and per query (`orm.query`, DEBUG), and each statement as a DEBUG
//! event inside them (with the fields `sql`, `cause` and `duration_us`),
//! so that a service tracing with the `tracing` crate sees what a request
//! cost in the ORM. The N+1 warning is a WARN event. All under the target
//! `orm::sql`: a filter `orm::sql=debug` shows everything, `orm::sql=info`
//! the flushes and warnings.
//!
//! Without the feature every function here is empty and inlined away.
//! Owns no state: the subscriber decides what is kept.

#[cfg(feature = "tracing")]
mod on {
    use super::super::echo::Statement;

    /// The span of a flush, entered until dropped.
    pub(crate) type Flush = tracing::span::EnteredSpan;

    /// Enters the span of a flush of `pending`, `dirty` (changed, or
    /// perhaps changed) and `deleted` objects.
    pub(crate) fn flush(pending: usize, dirty: usize, deleted: usize) -> Flush {
        tracing::info_span!(target: "orm::sql", "orm.flush", pending, dirty, deleted).entered()
    }

    /// The span of a query, entered until dropped.
    pub(crate) struct Query(tracing::span::EnteredSpan);

    impl Query {
        /// The number of rows the query returned.
        pub(crate) fn rows(&self, rows: usize) {
            self.0.record("rows", rows);
        }
    }

    /// Enters the span of a query of `table`; `kind` says which
    /// (`query`, `count`, `select`, `get`).
    pub(crate) fn query(kind: &'static str, table: &'static str) -> Query {
        Query(
            tracing::debug_span!(
                target: "orm::sql",
                "orm.query",
                kind,
                table,
                rows = tracing::field::Empty
            )
            .entered(),
        )
    }

    /// Whether the subscriber wants statement events: then statements are
    /// watched (parameters copied, causes built) as for the echo.
    #[inline]
    pub(crate) fn statements_wanted() -> bool {
        tracing::enabled!(target: "orm::sql", tracing::Level::DEBUG)
    }

    /// A statement that ran, as an event in the current span.
    pub(crate) fn statement(statement: &Statement, duration_us: u64) {
        tracing::debug!(
            target: "orm::sql",
            sql = statement.sql.as_str(),
            cause = statement.cause.as_deref(),
            duration_us,
            "{statement}"
        );
    }

    /// A warning the session gives (the N+1 warning).
    pub(crate) fn warning(text: &str) {
        tracing::warn!(target: "orm::sql", "{text}");
    }
}

#[cfg(not(feature = "tracing"))]
mod on {
    use super::super::echo::Statement;

    pub(crate) struct Flush;

    #[inline(always)]
    pub(crate) fn flush(_: usize, _: usize, _: usize) -> Flush {
        Flush
    }

    pub(crate) struct Query;

    impl Query {
        #[inline(always)]
        pub(crate) fn rows(&self, _: usize) {}
    }

    #[inline(always)]
    pub(crate) fn query(_: &'static str, _: &'static str) -> Query {
        Query
    }

    #[inline(always)]
    pub(crate) fn statements_wanted() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn statement(_: &Statement, _: u64) {}

    #[inline(always)]
    pub(crate) fn warning(_: &str) {}
}

pub(crate) use on::*;
