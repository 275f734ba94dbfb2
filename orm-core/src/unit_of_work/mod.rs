//! Unit of work: what the next flush has to write (pending, dirty and
//! deleted objects, orphans, many-to-many link changes), in an order the
//! foreign keys accept, and the flush plan that explains it
//! (SQLAlchemy's `unitofwork.py`).
//!
//! Owns those lists; the session asks it for the [`Work`] of a flush and
//! runs it inside the transaction `transaction` opened. The statements come
//! from `persistence` (inserts of a run of new objects of one table
//! together); the order from [`order`]; the plan, which
//! shares its steps with the flush so the two cannot drift, from [`plan`].

mod order;
mod plan;

pub(crate) use plan::plan;
pub use plan::{Action, FlushPlan, PlanStep};

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::error::Result;
use crate::persistence::{self, Rows, Stop};
use crate::sql::Conn;
use crate::state::{AnyNode, State, address, row_name};
use crate::transaction::Written;

use order::Step;

/// The lists a flush works from. Each list is taken out whole before its
/// objects are visited or dropped, so that a model's `Drop` or `Debug`
/// calling back into the session finds no list borrowed.
#[derive(Default)]
pub(crate) struct UnitOfWork {
    pending: RefCell<Pending>,
    dirty: RefCell<Vec<Rc<dyn AnyNode>>>,
    deleted: RefCell<Vec<Rc<dyn AnyNode>>>,
    /// Children let go by `delete_orphan` collections.
    orphans: RefCell<Vec<Orphan>>,
    /// The orphans the next flush deletes (also in `deleted`).
    orphan_deletes: RefCell<Vec<Orphan>>,
    /// Link rows of many-to-many relationships to insert or delete.
    links: RefCell<LinkChanges>,
    /// New objects deleted before any flush: rollback empties their
    /// collections, as the children they held go back to their old parents.
    discarded: RefCell<Vec<Rc<dyn AnyNode>>>,
}

/// What a flush has to write.
pub(crate) struct Work {
    pub pending: Vec<Rc<dyn AnyNode>>,
    pub dirty: Vec<Rc<dyn AnyNode>>,
    pub deleted: Vec<Rc<dyn AnyNode>>,
    /// Deletes of orphans (children a `delete_orphan` collection let go).
    pub orphans: Vec<Orphan>,
    pub links: Vec<LinkChange>,
}

/// A child taken out of a `delete_orphan` collection, and where from: the
/// flush deletes it unless it found another parent, and says why.
#[derive(Clone)]
pub(crate) struct Orphan {
    pub node: Rc<dyn AnyNode>,
    /// The child's `BelongsTo` field, which would have to point at a
    /// parent for the child to survive the flush.
    back_field: &'static str,
    /// The collection that let it go (`Order.lines`) and its owner, held
    /// weakly: an orphan does not keep its old parent alive.
    collection: (&'static str, &'static str),
    owner: Weak<dyn AnyNode>,
}

impl Orphan {
    /// `back_field` of `node` no longer points at `owner`, which lost it
    /// from its collection `collection` (model, field).
    pub(crate) fn new(
        node: Rc<dyn AnyNode>,
        back_field: &'static str,
        collection: (&'static str, &'static str),
        owner: &Rc<dyn AnyNode>,
    ) -> Self {
        Orphan {
            node,
            back_field,
            collection,
            owner: Rc::downgrade(owner),
        }
    }

    /// `"removed from Order.lines of orders 7"`, the owner named by table
    /// and key (while it is alive).
    fn removed_from(&self) -> String {
        let (model, field) = self.collection;
        let owner = self
            .owner
            .upgrade()
            .map(|o| format!(" of {}", row_name(&*o)))
            .unwrap_or_default();
        format!("removed from {model}.{field}{owner}")
    }
}

impl Work {
    /// The objects the flush deletes, orphans included.
    pub(crate) fn deletes(&self) -> impl Iterator<Item = &Rc<dyn AnyNode>> {
        self.deleted
            .iter()
            .chain(self.orphans.iter().map(|o| &o.node))
    }
}

/// What the unit of work let go of, handed to the caller to visit and drop
/// outside any borrow.
#[derive(Default)]
pub(crate) struct Abandoned {
    pub pending: Vec<Rc<dyn AnyNode>>,
    pub dirty: Vec<Rc<dyn AnyNode>>,
    pub deleted: Vec<Rc<dyn AnyNode>>,
    /// New objects taken out again (deleted before a flush) since the last
    /// flush.
    pub taken_out: Vec<Rc<dyn AnyNode>>,
    /// Orphans and link changes: only dropped.
    _rest: (Vec<Orphan>, Vec<LinkChange>),
}

impl UnitOfWork {
    pub(crate) fn add_pending(&self, node: Rc<dyn AnyNode>) {
        self.pending.borrow_mut().push(node);
    }

    /// Takes a pending object out again (deleted before any flush).
    pub(crate) fn expunge(&self, node: &Rc<dyn AnyNode>) {
        self.pending.borrow_mut().take_out(node);
        self.discarded.borrow_mut().push(Rc::clone(node));
    }

    pub(crate) fn mark_dirty(&self, node: Rc<dyn AnyNode>) {
        self.dirty.borrow_mut().push(node);
    }

    pub(crate) fn mark_deleted(&self, node: Rc<dyn AnyNode>) {
        self.deleted.borrow_mut().push(node);
    }

    /// Remembers a child taken out of a `delete_orphan` collection; the next
    /// flush deletes it if it still has no parent then (it may have been
    /// pushed into another collection meanwhile).
    pub(crate) fn mark_orphan(&self, orphan: Orphan) {
        self.orphans.borrow_mut().push(orphan);
    }

    /// The marked orphans still without a parent, each with the last
    /// collection that let it go. Takes nothing: the caller deletes them,
    /// then calls [`UnitOfWork::orphans_decided`].
    pub(crate) fn orphans_to_delete(&self) -> Result<Vec<Orphan>> {
        let orphans = self.orphans.borrow().clone();
        let mut found: Vec<Orphan> = Vec::new();
        let mut at: HashMap<*const (), usize> = HashMap::default();
        for orphan in orphans {
            let counts = matches!(orphan.node.state(), State::Pending | State::Persistent)
                && orphaned(&orphan.node, orphan.back_field)?;
            if !counts {
                continue;
            }
            // A later collection that left the child orphaned is the reason.
            match at.get(&address(&orphan.node)) {
                Some(&i) => found[i] = orphan,
                None => {
                    at.insert(address(&orphan.node), found.len());
                    found.push(orphan);
                }
            }
        }
        Ok(found)
    }

    /// The orphans were decided: those deleted are flushed as orphans.
    pub(crate) fn orphans_decided(&self, deleted: Vec<Orphan>) {
        let decided = std::mem::take(&mut *self.orphans.borrow_mut());
        self.orphan_deletes.borrow_mut().extend(deleted);
        drop(decided);
    }

    /// Records a link row to insert (`link`) or delete on flush. Where the
    /// collection was loaded (`known`), the opposite change still pending
    /// cancels out; otherwise the database's state is unknown and the last
    /// change wins.
    pub(crate) fn record_link(&self, change: LinkChange, known: bool) {
        let let_go = self.links.borrow_mut().record(change, known);
        drop(let_go);
    }

    /// Whether there are changes a flush would write. Never panics, even
    /// when called back from inside the session (a list being changed then
    /// counts as work).
    pub(crate) fn has_work(&self) -> bool {
        let busy = |len: std::result::Result<usize, _>| len.map_or(true, |n| n > 0);
        busy(self.pending.try_borrow().map(|l| l.len()))
            || busy(self.deleted.try_borrow().map(|l| l.len()))
            || busy(self.links.try_borrow().map(|l| l.len()))
            || busy(self.orphans.try_borrow().map(|l| l.len()))
            || self
                .dirty
                .try_borrow()
                .map_or(true, |dirty| dirty.iter().any(|n| n.has_changes()))
    }

    /// The work of the next flush, as it stands (nothing is taken).
    pub(crate) fn work(&self) -> Work {
        let orphans = self.orphan_deletes.borrow().clone();
        let deleted = if orphans.is_empty() {
            self.deleted.borrow().clone()
        } else {
            let orphaned: HashSet<*const ()> = orphans.iter().map(|o| address(&o.node)).collect();
            self.deleted
                .borrow()
                .iter()
                .filter(|n| !orphaned.contains(&address(n)))
                .cloned()
                .collect()
        };
        Work {
            pending: self.pending.borrow().to_vec(),
            dirty: self.dirty.borrow().clone(),
            deleted,
            orphans,
            links: self.links.borrow().to_vec(),
        }
    }

    /// The dirty objects had nothing to write: let them go (a later
    /// `write` lists an object again). Left as they are while the list is
    /// being read: letting go is only a saving.
    pub(crate) fn forget_clean(&self) {
        let Ok(mut listed) = self.dirty.try_borrow_mut() else {
            return;
        };
        if listed.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut *listed);
        drop(listed);
        dirty.iter().for_each(|n| {
            n.meta().set_listed(false);
        });
    }

    /// A flush succeeded: its work is done. Returns the lists, to drop
    /// outside the borrows.
    pub(crate) fn flushed(&self) -> Abandoned {
        let abandoned = self.take();
        abandoned.dirty.iter().for_each(|n| {
            n.meta().set_listed(false);
        });
        abandoned
    }

    /// Everything the unit of work holds, taken out (rollback, clear).
    /// Objects new before the last commit (`discarded`) stay only until
    /// commit or rollback.
    pub(crate) fn take(&self) -> Abandoned {
        let mut rest = std::mem::take(&mut *self.orphan_deletes.borrow_mut());
        rest.extend(std::mem::take(&mut *self.orphans.borrow_mut()));
        let (pending, taken_out) = self.pending.borrow_mut().take();
        Abandoned {
            pending,
            dirty: std::mem::take(&mut *self.dirty.borrow_mut()),
            deleted: std::mem::take(&mut *self.deleted.borrow_mut()),
            taken_out,
            _rest: (rest, self.links.borrow_mut().take()),
        }
    }

    /// The new objects taken out again (deleted before a flush): since the
    /// last flush, or since the last commit or rollback (`discarded`). A
    /// rollback makes them new again.
    pub(crate) fn taken_out(&self, since_commit: bool) -> Vec<Rc<dyn AnyNode>> {
        match since_commit {
            true => self.discarded.borrow().clone(),
            false => self.pending.borrow().taken_out(),
        }
    }

    /// The new objects deleted before a flush, taken out (rollback, commit).
    pub(crate) fn take_discarded(&self) -> Vec<Rc<dyn AnyNode>> {
        std::mem::take(&mut *self.discarded.borrow_mut())
    }
}

/// Objects in a list of the unit of work.
type Nodes = Vec<Rc<dyn AnyNode>>;

/// The new objects, in the order they were added. One taken out again
/// (deleted before any flush) stays in the list, its place noted as taken,
/// and is found by an index of places made at the first such delete:
/// deleting 10,000 new objects costs 10,000 lookups, not a scan and a
/// shift each, and adding costs nothing more until then. (A taken object
/// is kept alive no longer than the session's `discarded` keeps it.)
#[derive(Default)]
struct Pending {
    /// Every object added, in order, those taken out included.
    nodes: Nodes,
    /// Made by the first `take_out`; boxed, as most sessions never take
    /// one out, and each new session makes an empty list.
    taken: Option<Box<Taken>>,
}

#[derive(Default)]
struct Taken {
    /// Each object's place in `nodes`, by address.
    at: HashMap<*const (), usize>,
    /// The places of the objects taken out.
    places: HashSet<usize>,
}

impl Pending {
    fn push(&mut self, node: Rc<dyn AnyNode>) {
        if let Some(taken) = &mut self.taken {
            taken.at.insert(address(&node), self.nodes.len());
        }
        self.nodes.push(node);
    }

    /// Takes `node` out, if pending.
    fn take_out(&mut self, node: &Rc<dyn AnyNode>) {
        let nodes = &self.nodes;
        let taken = self.taken.get_or_insert_with(|| {
            let at = nodes.iter().enumerate().map(|(i, n)| (address(n), i));
            Box::new(Taken {
                at: at.collect(),
                places: HashSet::default(),
            })
        });
        if let Some(place) = taken.at.remove(&address(node)) {
            taken.places.insert(place);
        }
    }

    /// The places taken out, when any.
    fn holes(&self) -> Option<&HashSet<usize>> {
        self.taken
            .as_ref()
            .map(|t| &t.places)
            .filter(|p| !p.is_empty())
    }

    fn len(&self) -> usize {
        self.nodes.len() - self.holes().map_or(0, HashSet::len)
    }

    /// The objects, in order.
    fn to_vec(&self) -> Vec<Rc<dyn AnyNode>> {
        let Some(holes) = self.holes() else {
            return self.nodes.clone();
        };
        let places = self.nodes.iter().enumerate();
        let left = places.filter(|(i, _)| !holes.contains(i));
        left.map(|(_, n)| Rc::clone(n)).collect()
    }

    /// The objects taken out.
    fn taken_out(&self) -> Vec<Rc<dyn AnyNode>> {
        let Some(holes) = self.holes() else {
            return Vec::new();
        };
        holes
            .iter()
            .filter_map(|&i| self.nodes.get(i))
            .cloned()
            .collect()
    }

    /// The objects, in order, taken out; and those taken out before, to
    /// drop with them.
    fn take(&mut self) -> (Nodes, Nodes) {
        let nodes = std::mem::take(&mut self.nodes);
        let Some(taken) = self.taken.take() else {
            return (nodes, Vec::new());
        };
        let (gone, left) = nodes
            .into_iter()
            .enumerate()
            .partition::<Vec<_>, _>(|(i, _)| taken.places.contains(i));
        let strip = |v: Vec<(usize, Rc<dyn AnyNode>)>| v.into_iter().map(|(_, n)| n).collect();
        (strip(left), strip(gone))
    }
}

/// Whether the `BelongsTo` field `field` of `node` points at no parent.
fn orphaned(node: &Rc<dyn AnyNode>, field: &str) -> Result<bool> {
    let mut orphaned = false;
    node.value()?.for_each_relation(&mut |relation| {
        if let Some(fk) = relation.as_foreign_key() {
            orphaned |= fk.orphaned(field) == Some(true);
        }
    });
    Ok(orphaned)
}

impl Work {
    /// The first table this work writes, for errors raised before any statement.
    pub(crate) fn first_table(&self) -> &'static str {
        self.pending
            .iter()
            .chain(&self.dirty)
            .chain(&self.deleted)
            .map(|n| n.table().name)
            .next()
            .or_else(|| self.links.first().map(|l| l.table))
            .unwrap_or("")
    }
}

/// The link changes, in the order they were made, each link once; a link
/// is found by its table and ends with one lookup, not a scan of every
/// change before it (linking 10,000 objects in one session). A change
/// cancelled leaves a hole, so that none after it moves: linking 10,000
/// objects and unlinking them again costs 20,000 lookups.
#[derive(Default)]
struct LinkChanges {
    /// The changes, in the order they were made; `None` where one was
    /// cancelled.
    changes: Vec<Option<LinkChange>>,
    /// Each change's position in `changes`, by its link.
    at: HashMap<LinkId, usize>,
}

/// A link row's identity: its table, and each column with the address of
/// the object whose key goes there.
type LinkId = (&'static str, [(&'static str, *const ()); 2]);

impl LinkChanges {
    /// Records `change` (see [`UnitOfWork::record_link`]); returns the
    /// changes let go of (one cancelled, or `change` itself when not kept),
    /// to drop outside the borrow.
    fn record(&mut self, change: LinkChange, known: bool) -> [Option<LinkChange>; 2] {
        let id = change.id();
        let Some(&i) = self.at.get(&id) else {
            self.push(id, change);
            return [None, None];
        };
        if self.changes[i]
            .as_ref()
            .is_some_and(|c| c.link == change.link)
        {
            return [Some(change), None];
        }
        let cancelled = self.changes[i].take();
        self.at.remove(&id);
        self.close_up();
        if known {
            return [cancelled, Some(change)];
        }
        self.push(id, change);
        [cancelled, None]
    }

    fn push(&mut self, id: LinkId, change: LinkChange) {
        self.at.insert(id, self.changes.len());
        self.changes.push(Some(change));
    }

    /// Once holes are half the list, the changes move up to fill them:
    /// each change moves at most once per change cancelled, on average.
    fn close_up(&mut self) {
        if self.at.len() * 2 >= self.changes.len() {
            return;
        }
        self.changes.retain(Option::is_some);
        for (at, change) in self.changes.iter().enumerate() {
            if let Some(change) = change {
                self.at.insert(change.id(), at);
            }
        }
    }

    /// How many changes there are.
    fn len(&self) -> usize {
        self.at.len()
    }

    /// A copy of the changes, in the order they were made.
    fn to_vec(&self) -> Vec<LinkChange> {
        self.changes.iter().flatten().cloned().collect()
    }

    /// Every change, taken out, in the order they were made.
    fn take(&mut self) -> Vec<LinkChange> {
        self.at.clear();
        std::mem::take(&mut self.changes)
            .into_iter()
            .flatten()
            .collect()
    }
}

/// A link row of a many-to-many relationship to insert or delete. The ends
/// are objects, not keys: a new object's key is known only after its INSERT.
#[derive(Clone)]
pub(crate) struct LinkChange {
    table: &'static str,
    /// Each link column with the object whose key goes there, by column name.
    ends: [(&'static str, Rc<dyn AnyNode>); 2],
    /// Insert (`true`) or delete the row.
    pub link: bool,
}

impl LinkChange {
    pub(crate) fn new(
        table: &'static str,
        mut ends: [(&'static str, Rc<dyn AnyNode>); 2],
        link: bool,
    ) -> Self {
        // One order for both sides, so that `item.keywords.add(k)` and
        // `k.items.add(item)` are recognised as the same link.
        ends.sort_by_key(|(column, _)| *column);
        LinkChange { table, ends, link }
    }

    fn id(&self) -> LinkId {
        let [(a, first), (b, second)] = &self.ends;
        (self.table, [(a, address(first)), (b, address(second))])
    }

    fn run(&self, conn: &Conn) -> Result<()> {
        let [(a, first), (b, second)] = &self.ends;
        persistence::link_row(conn, self.table, [(a, first), (b, second)], self.link)
    }
}

/// Runs the statements of `work`, with `rows` saying whether inserts may
/// share multi-row INSERTs. On failure returns why, and what was written
/// before, so the caller can undo it in memory.
pub(crate) fn execute(
    conn: &Conn,
    work: &Work,
    rows: Rows,
) -> std::result::Result<Vec<Written>, (Stop, Vec<Written>)> {
    let mut written = Vec::new();
    match run(conn, work, rows, &mut written) {
        Ok(()) => Ok(written),
        Err(stop) => Err((stop, written)),
    }
}

fn run(
    conn: &Conn,
    work: &Work,
    rows: Rows,
    written: &mut Vec<Written>,
) -> std::result::Result<(), Stop> {
    let mut steps = order::steps(work)?.into_iter().peekable();
    while let Some(step) = steps.next() {
        match step {
            // The consecutive inserts into one table go together: one cause
            // for the run of them, built once, not per row.
            Step::Insert(node) => {
                let table = node.table();
                // At most every step left: one allocation.
                let mut run = Vec::with_capacity(steps.len() + 1);
                run.push(node);
                while let Some(Step::Insert(next)) = steps
                    .next_if(|s| matches!(s, Step::Insert(n) if std::ptr::eq(n.table(), table)))
                {
                    run.push(next);
                }
                conn.because(
                    false,
                    || insert_cause(&run[0]),
                    || {
                        persistence::insert_all(conn, &run, rows, &mut |node, inserted| {
                            written.push(Written::Inserted {
                                node: Rc::clone(node),
                                inserted,
                            });
                        })
                    },
                )?;
            }
            Step::Update { node, needs_insert } => {
                let old_version = conn.because(
                    false,
                    || update_cause(&node, needs_insert),
                    || persistence::update(&node, conn),
                )?;
                written.push(Written::Updated { node, old_version });
            }
            Step::Delete { node, orphan } => {
                let cause = || match orphan {
                    Some(orphan) => format!(
                        "{} ({})",
                        row_cause("delete of orphan", &node),
                        orphan.removed_from()
                    ),
                    None => row_cause("delete of", &node),
                };
                conn.because(false, cause, || persistence::delete(&node, conn))?;
                written.push(Written::Deleted { node });
            }
            Step::Link(change) => conn.because(
                false,
                || format!("link row in {}", change.table),
                || change.run(conn),
            )?,
        }
    }
    Ok(())
}

/// `"insert into orders after users (orders.user_id needs users.id)"`:
/// the inserts into a table, and why they wait for others of the flush
/// (the first object's new parents speak for the run).
fn insert_cause(node: &Rc<dyn AnyNode>) -> String {
    let insert = format!("insert into {}", node.table().name);
    match waits_for(node) {
        Some(reason) => format!("{insert} {reason}"),
        None => insert,
    }
}

/// `"update of orders 1 after users (orders.user_id needs users.id)"`
/// for an update that points at a new parent the flush inserts (one
/// pointing at a new row by key alone says no more than its columns).
fn update_cause(node: &Rc<dyn AnyNode>, needs_insert: bool) -> String {
    let update = row_cause("update of", node);
    if !needs_insert {
        return update;
    }
    match waits_for(node) {
        Some(reason) => format!("{update} {reason}"),
        None => update,
    }
}

/// `"after users (orders.user_id needs users.id)"`: the tables of the new
/// parents `node` points at, and the keys it needs from them.
fn waits_for(node: &Rc<dyn AnyNode>) -> Option<String> {
    let table = node.table();
    let mut after: Vec<&str> = Vec::new();
    for parent in node.parents().unwrap_or_default() {
        let name = parent.table().name;
        if parent.state() == State::Pending && !after.contains(&name) {
            after.push(name);
        }
    }
    if after.is_empty() {
        return None;
    }
    let needs: Vec<String> = table
        .columns
        .iter()
        .filter_map(|c| {
            let target = (c.references?.target)();
            after.contains(&target.name).then(|| {
                format!(
                    "{}.{} needs {}.{}",
                    table.name,
                    c.name,
                    target.name,
                    target.primary_key().name
                )
            })
        })
        .collect();
    Some(format!("after {} ({})", after.join(", "), needs.join(", ")))
}

/// `"update of users 3"`: what a statement does to one object's row.
fn row_cause(what: &str, node: &Rc<dyn AnyNode>) -> String {
    format!("{what} {}", row_name(&**node))
}

/// After a failed flush: undo in memory what its statements changed (keys
/// SQLite assigned, versions bumped); the database undid the rest.
pub(crate) fn revert(written: &[Written]) {
    for w in written.iter().rev() {
        match w {
            Written::Inserted { node, inserted } => persistence::undo_insert(node, *inserted),
            Written::Updated {
                node,
                old_version: Some(old),
            } => persistence::undo_update(node, old),
            _ => {}
        }
    }
}
