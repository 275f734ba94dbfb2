//! The `tracing` feature: a span per flush and per query, each statement
//! an event inside the span that sent it, the N+1 warning a WARN event.
//! A small subscriber collects what orm emits.
#![cfg(feature = "tracing")]

#[path = "common/shop.rs"]
mod shop;

use std::cell::RefCell;
use std::sync::Once;

use shop::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A span as the subscriber saw it: its name and fields.
#[derive(Debug, Clone, PartialEq)]
struct SpanSeen {
    name: &'static str,
    fields: Vec<(String, String)>,
}

/// An event: its level, target, fields and the span it happened in.
#[derive(Debug, Clone)]
struct EventSeen {
    level: Level,
    target: String,
    fields: Vec<(String, String)>,
    span: Option<usize>,
}

impl EventSeen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Seen {
    spans: Vec<SpanSeen>,
    events: Vec<EventSeen>,
    /// The entered spans, innermost last (indexes into `spans`).
    entered: Vec<usize>,
}

/// The subscriber of the whole test binary (a global one: scoped
/// subscribers on parallel test threads race on tracing's per-callsite
/// interest cache). It keeps what each thread emits apart.
struct Collector;

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
    /// The most verbose level this thread's test listens to.
    static LEVEL: std::cell::Cell<Level> = const { std::cell::Cell::new(Level::TRACE) };
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Collector {
    /// Asked again at each callsite: what is enabled differs per thread.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= LEVEL.get()
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        SEEN.with_borrow_mut(|seen| {
            let mut fields = Vec::new();
            span.record(&mut Fields(&mut fields));
            seen.spans.push(SpanSeen {
                name: span.metadata().name(),
                fields,
            });
            Id::from_u64(seen.spans.len() as u64)
        })
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        SEEN.with_borrow_mut(|seen| {
            let index = span.into_u64() as usize - 1;
            values.record(&mut Fields(&mut seen.spans[index].fields));
        });
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        SEEN.with_borrow_mut(|seen| {
            let mut fields = Vec::new();
            event.record(&mut Fields(&mut fields));
            let span = seen.entered.last().copied();
            seen.events.push(EventSeen {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                fields,
                span,
            });
        });
    }

    fn enter(&self, span: &Id) {
        SEEN.with_borrow_mut(|seen| seen.entered.push(span.into_u64() as usize - 1));
    }

    fn exit(&self, _: &Id) {
        SEEN.with_borrow_mut(|seen| seen.entered.pop());
    }
}

/// Runs `work` on this thread with the collector listening; returns what
/// it saw.
fn collect(work: impl FnOnce() -> orm::Result<()>) -> orm::Result<Seen> {
    collect_at(Level::TRACE, work)
}

/// [`collect`], listening up to `level`.
fn collect_at(level: Level, work: impl FnOnce() -> orm::Result<()>) -> orm::Result<Seen> {
    LEVEL.set(level);
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Collector).expect("the only global subscriber");
    });
    SEEN.with_borrow_mut(|seen| *seen = Seen::default());
    work()?;
    Ok(SEEN.with_borrow_mut(std::mem::take))
}

/// The statements (their SQL) sent inside span `span`.
fn statements_in(seen: &Seen, span: usize) -> Vec<String> {
    seen.events
        .iter()
        .filter(|e| e.target == "orm::sql" && e.span == Some(span) && e.level == Level::DEBUG)
        .map(|e| e.field("sql").unwrap_or_default().to_owned())
        .collect()
}

fn field<'a>(span: &'a SpanSeen, name: &str) -> Option<&'a str> {
    span.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_flush_is_a_span_holding_its_statements() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let ann = session.get::<User>(1)?;
    let seen = collect(|| {
        ann.write()?.name = "Annie".to_owned();
        let order = session.add(Order::new(700));
        order.read()?.user.set(&ann)?;
        session.commit()
    })?;
    let flushes: Vec<usize> = (0..seen.spans.len())
        .filter(|&i| seen.spans[i].name == "orm.flush")
        .collect();
    assert_eq!(flushes.len(), 1, "{:?}", seen.spans);
    let flush = &seen.spans[flushes[0]];
    assert_eq!(field(flush, "pending"), Some("1"));
    assert_eq!(field(flush, "dirty"), Some("1"));
    assert_eq!(field(flush, "deleted"), Some("0"));
    // BEGIN opens the transaction for the flush; COMMIT is the session's,
    // after the flush.
    let statements = statements_in(&seen, flushes[0]);
    let starts: Vec<&str> = statements
        .iter()
        .map(|s| s.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(starts, ["BEGIN", "UPDATE", "INSERT"], "{statements:?}");
    let commit = seen
        .events
        .iter()
        .find(|e| e.field("sql") == Some("COMMIT"))
        .expect("COMMIT is an event");
    assert_eq!(commit.span, None);
    let insert = seen
        .events
        .iter()
        .find(|e| e.field("sql").is_some_and(|s| s.starts_with("INSERT")))
        .expect("the INSERT is an event");
    assert_eq!(insert.field("cause"), Some("commit: insert into orders"));
    assert!(insert.field("duration_us").is_some());
    Ok(())
}

#[test]
fn a_query_is_a_span_with_its_table_rows_and_statements() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let seen = collect(|| {
        session
            .query::<User>()
            .preload(User::ORDERS)
            .all()
            .map(|_| ())
    })?;
    assert_eq!(seen.spans.len(), 1, "{:?}", seen.spans);
    let query = &seen.spans[0];
    assert_eq!(query.name, "orm.query");
    assert_eq!(field(query, "kind"), Some("query"));
    assert_eq!(field(query, "table"), Some("users"));
    assert_eq!(field(query, "rows"), Some("4"));
    // The query and its preload: two statements, both in the span.
    let statements = statements_in(&seen, 0);
    assert_eq!(statements.len(), 2, "{statements:?}");
    assert!(statements[1].contains(r#"FROM "orders""#), "{statements:?}");
    Ok(())
}

#[test]
fn gets_counts_and_selects_are_query_spans_and_map_hits_are_none() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let seen = collect(|| {
        session.get::<User>(2)?;
        session.get::<User>(2)?; // from the identity map: no SQL, no span
        session.query::<Order>().count()?;
        session.query::<Item>().select(Item::SKU).all()?;
        Ok(())
    })?;
    let spans: Vec<(Option<&str>, Option<&str>)> = seen
        .spans
        .iter()
        .map(|s| (field(s, "kind"), field(s, "table")))
        .collect();
    assert_eq!(
        spans,
        [
            (Some("get"), Some("users")),
            (Some("count"), Some("orders")),
            (Some("select"), Some("items")),
        ]
    );
    for span in 0..3 {
        assert_eq!(statements_in(&seen, span).len(), 1);
    }
    Ok(())
}

#[test]
fn the_n_plus_one_warning_is_a_warn_event() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let seen = collect(|| {
        for user in session.query::<User>().all()? {
            user.read()?.orders.load()?;
        }
        Ok(())
    })?;
    let warnings: Vec<&EventSeen> = seen
        .events
        .iter()
        .filter(|e| e.level == Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .field("message")
            .is_some_and(|m| m.starts_with("3 lazy loads of User.orders after one query of users")),
        "{warnings:?}"
    );
    Ok(())
}

#[test]
fn at_info_only_flushes_show_and_statements_are_not_watched() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let seen = collect_at(Level::INFO, || {
        session.get::<User>(1)?.write()?.name = "Annie".to_owned();
        session.commit()?;
        session.query::<Order>().all().map(|_| ())
    })?;
    let names: Vec<&str> = seen.spans.iter().map(|s| s.name).collect();
    assert_eq!(names, ["orm.flush"]);
    assert!(seen.events.is_empty(), "{:?}", seen.events);
    Ok(())
}

#[test]
fn a_rollback_is_no_flush_span() -> orm::Result<()> {
    let db = shop()?;
    let session = db.session();
    let seen = collect(|| {
        session.get::<User>(1)?.write()?.name = "Annie".to_owned();
        session.flush()?;
        let savepoint = session.begin_nested()?;
        session.get::<User>(2)?.write()?.name = "Bobby".to_owned();
        savepoint.rollback()?;
        session.rollback()
    })?;
    let flushes: Vec<&SpanSeen> = seen
        .spans
        .iter()
        .filter(|s| s.name == "orm.flush")
        .collect();
    // Only the explicit flush: `begin_nested` found nothing left to flush,
    // and neither rollback is a flush.
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    Ok(())
}
