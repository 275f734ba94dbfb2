//! Objects loaded for several owners at once (a preload, one statement
//! per key list, or the one owner of a lazy load), grouped by owner in the
//! order the owners were given. One vector for all: a preload of 10,000
//! posts for 1,000 users grows one, not one per user, and finds each row's
//! owner with one hash lookup. Used by `HasMany`/`HasOne` and
//! `ManyToMany`; filling the fields is theirs.

use std::hash::Hash;

use rustc_hash::FxHashMap as HashMap;

use crate::model::Model;
use crate::state::Handle;

/// The objects as they come, each with its owner: [`Groups::finish`]
/// turns them into [`Grouped`].
pub(super) struct Groups<K, C: Model> {
    /// Each owner's key and its position among the owners.
    position: HashMap<K, usize>,
    /// The objects, in the order they came.
    nodes: Vec<Handle<C>>,
    /// How many objects each owner has, by its position.
    counts: Vec<usize>,
    /// Each object's owner position, kept only once an object came after
    /// one of a later owner (an `order_by` sorts across owners); until then
    /// the counts say it.
    owner: Option<Vec<usize>>,
    /// The owner position of the object that came last.
    last: usize,
}

impl<K: Hash + Eq, C: Model> Groups<K, C> {
    /// Groups for `owners` owners, each given next by `owner`.
    pub(super) fn new(owners: usize) -> Groups<K, C> {
        let mut position = HashMap::default();
        position.reserve(owners);
        Groups {
            position,
            nodes: Vec::new(),
            counts: Vec::with_capacity(owners),
            owner: None,
            last: 0,
        }
    }

    /// The next owner (a key given twice gets its objects the first time).
    pub(super) fn owner(&mut self, key: K) {
        let at = self.counts.len();
        self.position.entry(key).or_insert(at);
        self.counts.push(0);
    }

    /// Adds `node` to the group of the owner with key `owner`, if one was
    /// given.
    pub(super) fn push(&mut self, owner: &K, node: Handle<C>) {
        let Some(&at) = self.position.get(owner) else {
            return;
        };
        if self.owner.is_none() && at < self.last {
            let so_far = self
                .counts
                .iter()
                .enumerate()
                .flat_map(|(position, &n)| std::iter::repeat_n(position, n));
            self.owner = Some(so_far.collect());
        }
        if let Some(owner) = &mut self.owner {
            owner.push(at);
        }
        self.counts[at] += 1;
        self.last = at;
        self.nodes.push(node);
    }

    /// Puts the objects in their owners' order, keeping the order they
    /// came in within each owner.
    pub(super) fn finish(self) -> Grouped<C> {
        let Groups {
            mut nodes,
            counts,
            owner,
            ..
        } = self;
        if let Some(owner) = owner {
            let mut order: Vec<usize> = (0..nodes.len()).collect();
            order.sort_by_key(|&i| owner[i]);
            let mut came: Vec<Option<Handle<C>>> = nodes.into_iter().map(Some).collect();
            nodes = order.iter().filter_map(|&i| came[i].take()).collect();
        }
        Grouped { nodes, counts }
    }
}

/// The objects grouped by owner, in the owners' order.
pub(super) struct Grouped<C: Model> {
    nodes: Vec<Handle<C>>,
    /// How many objects each owner has, by its position.
    counts: Vec<usize>,
}

impl<C: Model> Grouped<C> {
    /// The objects of each owner in turn (an empty slice for an owner
    /// without any).
    pub(super) fn each(&self) -> impl Iterator<Item = &[Handle<C>]> {
        let mut start = 0;
        self.counts.iter().map(move |&n| {
            let group = &self.nodes[start..start + n];
            start += n;
            group
        })
    }

    /// Every object loaded, in their owners' order (one linked to two
    /// owners twice).
    pub(super) fn all(&self) -> &[Handle<C>] {
        &self.nodes
    }
}
