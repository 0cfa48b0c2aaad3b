//! The large form of a sorted set: an order-statistic index over (score, member).
//!
//! Owns only data: no clients, replies or configuration. Redis keeps a skiplist with spans
//! beside a dict; this keeps the same two views with less memory:
//! - `entries`: every (member, score) once, dense (`id` = position), so a random member is
//!   one random index (O(1)), as Redis's random bucket pick;
//! - `index`: a hash table of 4-byte ids keyed by the member's bytes (O(1) ZSCORE);
//! - `root`: a B+tree of ids in (score, member) order whose inner nodes keep each child's
//!   element count and smallest id, so rank, select-by-rank and "how many before this
//!   bound" are O(log N), and a walk from any rank costs O(log N + M).
//!
//! Members of at most [`INLINE`](crate::dense::INLINE) bytes live inside the entry (no allocation of their own).
//! Removing swaps the last entry into the hole: its id changes, so the tree and the index
//! are told (one more O(log N) descent).
//!
//! Complexity (N members, M visited): insert/remove/update O(log N); score O(1);
//! rank/select/count_before O(log N); iteration from a rank O(log N + M); random O(1).

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::dense::Member;

/// Ids per leaf (at most). Leaves are allocated at this capacity once, never regrown.
const LEAF_CAP: usize = 64;
/// Children per inner node (at most).
const INNER_CAP: usize = 32;

#[derive(Clone)]
struct Entry {
    member: Member,
    score: f64,
}

impl Entry {
    fn key(&self) -> (f64, &[u8]) {
        (self.score, self.member.bytes())
    }
}

/// Redis's order: by score (never NaN; -0 and 0 equal), then member bytes.
pub fn cmp_key(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

#[derive(Clone)]
enum Node {
    Leaf(Vec<u32>),
    Inner(Vec<Child>),
}

#[derive(Clone)]
struct Child {
    /// Elements in this subtree.
    count: usize,
    /// Id of the subtree's smallest element: the separator descents compare against.
    min: u32,
    node: Node,
}

impl Node {
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(v) => v.len(),
        }
    }

    fn first(&self) -> u32 {
        match self {
            Node::Leaf(v) => v[0],
            Node::Inner(v) => v[0].min,
        }
    }

    fn count(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(v) => v.iter().map(|c| c.count).sum(),
        }
    }

    fn cap(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_CAP,
            Node::Inner(_) => INNER_CAP,
        }
    }

    fn child(node: Node) -> Child {
        Child {
            count: node.count(),
            min: node.first(),
            node,
        }
    }
}

/// The large sorted-set form. See the module doc.
#[derive(Clone)]
pub struct ZTree {
    entries: Vec<Entry>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    root: Node,
    /// Malloc bytes of the members too long to live inline.
    heap_members: usize,
}

impl Default for ZTree {
    fn default() -> Self {
        ZTree {
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            root: Node::Leaf(Vec::new()),
            heap_members: 0,
        }
    }
}

impl std::fmt::Debug for ZTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter_from(0, false).map(|(s, m)| (m, s)))
            .finish()
    }
}

/// Index of the child of `ch` whose subtree holds (or would hold) `key`: the last one whose
/// smallest element is not after it (the first child when the key precedes everything).
fn child_for(e: &[Entry], ch: &[Child], key: (f64, &[u8])) -> usize {
    ch.partition_point(|c| cmp_key(e[c.min as usize].key(), key) != Ordering::Greater)
        .saturating_sub(1)
}

impl ZTree {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes, estimated in O(1) from lengths and capacities.
    pub fn mem_bytes(&self) -> usize {
        let n = self.entries.len();
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.index.capacity() * 5
            // Leaves run between half and completely full; inner nodes are ~1/30 of them.
            + n * 7
            + self.heap_members
    }

    fn hash(&self, m: &[u8]) -> u64 {
        self.hasher.hash_one(m)
    }

    fn id_of(&self, m: &[u8]) -> Option<u32> {
        let e = &self.entries;
        self.index
            .find(self.hash(m), |&id| e[id as usize].member.bytes() == m)
            .copied()
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        self.id_of(m).map(|id| self.entries[id as usize].score)
    }

    /// Set `m`'s score; true if it is new. -0 is stored as 0 (as Redis writes it).
    pub fn insert(&mut self, m: &[u8], score: f64) -> bool {
        let score = score + 0.0;
        if let Some(id) = self.id_of(m) {
            let old = self.entries[id as usize].score;
            if old != score {
                self.tree_remove(id);
                self.entries[id as usize].score = score;
                self.tree_insert(id);
            }
            return false;
        }
        let id = u32::try_from(self.entries.len()).expect("a sorted set holds < 2^32 members");
        let member = Member::new(m);
        self.heap_members += member.heap_bytes();
        self.entries.push(Entry { member, score });
        let h = self.hash(m);
        let (e, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(h, id, |&j| hasher.hash_one(e[j as usize].member.bytes()));
        self.tree_insert(id);
        true
    }

    /// Remove `m`; its score if it was there.
    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let h = self.hash(m);
        let e = &self.entries;
        let found = self
            .index
            .find_entry(h, |&id| e[id as usize].member.bytes() == m)
            .ok()?;
        let (id, _) = found.remove();
        self.tree_remove(id);
        let last = (self.entries.len() - 1) as u32;
        if id != last {
            // The last entry moves into the hole: relabel it in the tree and the index.
            self.tree_relabel(last, id);
            let lm = self.entries[last as usize].member.bytes();
            let h = self.hash(lm);
            let e = &self.entries;
            if let Some(slot) = self
                .index
                .find_mut(h, |&j| e[j as usize].member.bytes() == lm)
            {
                *slot = id;
            }
        }
        let gone = self.entries.swap_remove(id as usize);
        self.heap_members -= gone.member.heap_bytes();
        self.shrink();
        Some(gone.score)
    }

    /// Give memory back when a set shrank to a quarter of what it holds room for.
    fn shrink(&mut self) {
        let n = self.entries.len();
        if self.entries.capacity() > 64 && n * 4 < self.entries.capacity() {
            self.entries.shrink_to(n * 2);
            let (e, hasher) = (&self.entries, &self.hasher);
            self.index
                .shrink_to(n, |&j| hasher.hash_one(e[j as usize].member.bytes()));
        }
    }

    /// The element at ascending rank `r` (`r < len`).
    pub fn select(&self, mut r: usize) -> Option<(f64, &[u8])> {
        if r >= self.len() {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(ids) => return Some(self.entries[ids[r] as usize].key()),
                Node::Inner(ch) => {
                    let mut k = 0;
                    while r >= ch[k].count {
                        r -= ch[k].count;
                        k += 1;
                    }
                    node = &ch[k].node;
                }
            }
        }
    }

    /// 0-based ascending rank of `m`.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let id = self.id_of(m)?;
        let key = self.entries[id as usize].key();
        Some(self.count_before(|s, x| cmp_key((s, x), key) == Ordering::Less))
    }

    /// How many elements satisfy `before`, a predicate true for a prefix of the order
    /// (e.g. "score < min"): the rank where the rest starts.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let e = &self.entries;
        let test = |id: u32| {
            let (s, m) = e[id as usize].key();
            before(s, m)
        };
        let mut acc = 0;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(ids) => return acc + ids.partition_point(|&id| test(id)),
                Node::Inner(ch) => {
                    let k = ch.partition_point(|c| test(c.min));
                    if k == 0 {
                        return acc;
                    }
                    acc += ch[..k - 1].iter().map(|c| c.count).sum::<usize>();
                    node = &ch[k - 1].node;
                }
            }
        }
    }

    /// Elements from ascending rank `r`: upwards, or (`rev`) downwards to rank 0.
    pub fn iter_from(&self, r: usize, rev: bool) -> Iter<'_> {
        let n = self.len();
        let mut it = Iter {
            entries: &self.entries,
            stack: Vec::new(),
            leaf: &[],
            pos: 0,
            rev,
            left: 0,
        };
        if r >= n {
            return it;
        }
        it.left = if rev { r + 1 } else { n - r };
        let mut rem = r;
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(ids) => {
                    it.leaf = ids;
                    it.pos = if rev { rem + 1 } else { rem };
                    return it;
                }
                Node::Inner(ch) => {
                    let mut k = 0;
                    while rem >= ch[k].count {
                        rem -= ch[k].count;
                        k += 1;
                    }
                    it.stack.push((&ch[..], k));
                    node = &ch[k].node;
                }
            }
        }
    }

    /// A uniformly chosen element, given a random number (O(1)).
    pub fn random(&self, r: u64) -> Option<(f64, &[u8])> {
        if self.entries.is_empty() {
            return None;
        }
        Some(self.entries[(r % self.entries.len() as u64) as usize].key())
    }

    /// The element with id `p` (`p < len`): ids are positions in no particular order, so a
    /// uniformly drawn `p` is a uniformly drawn element (O(1)).
    pub fn at(&self, p: usize) -> Option<(f64, &[u8])> {
        self.entries.get(p).map(Entry::key)
    }

    /// Every element in no particular order (O(N), no tree walk).
    pub fn unordered(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        self.entries.iter().map(Entry::key)
    }

    fn tree_insert(&mut self, id: u32) {
        let e = &self.entries;
        if let Some(right) = node_insert(e, &mut self.root, id, true, true) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            self.root = Node::Inner(vec![Node::child(left), Node::child(right)]);
        }
    }

    fn tree_remove(&mut self, id: u32) {
        let e = &self.entries;
        let found = node_remove(e, &mut self.root, id);
        debug_assert!(found, "every id is in the tree");
        // A root left with one child hands over to it (the tree gets shallower).
        while let Node::Inner(ch) = &mut self.root {
            if ch.len() != 1 {
                break;
            }
            let only = ch.pop().expect("one child");
            self.root = only.node;
        }
    }

    /// Element `from` (still at `entries[from]`) is about to become id `to`.
    fn tree_relabel(&mut self, from: u32, to: u32) {
        let e = &self.entries;
        let key = e[from as usize].key();
        let mut node = &mut self.root;
        loop {
            match node {
                Node::Leaf(ids) => {
                    let p = ids.partition_point(|&x| cmp_key(e[x as usize].key(), key).is_lt());
                    debug_assert_eq!(ids[p], from);
                    ids[p] = to;
                    return;
                }
                Node::Inner(ch) => {
                    let k = child_for(e, ch, key);
                    if ch[k].min == from {
                        ch[k].min = to;
                    }
                    node = &mut ch[k].node;
                }
            }
        }
    }
}

/// Insert `id` under `node`; a new right sibling if the node split. `leftmost`/`rightmost`:
/// the node is at that edge of the whole tree, where an insert at the very end (ascending
/// scores, such as timestamps) splits off only the new element, leaving full nodes behind.
fn node_insert(
    e: &[Entry],
    node: &mut Node,
    id: u32,
    leftmost: bool,
    rightmost: bool,
) -> Option<Node> {
    let key = e[id as usize].key();
    let pos = match node {
        Node::Leaf(ids) => {
            let p = ids.partition_point(|&x| cmp_key(e[x as usize].key(), key).is_lt());
            ids.insert(p, id);
            p
        }
        Node::Inner(ch) => {
            let k = child_for(e, ch, key);
            let last = ch.len() - 1;
            ch[k].count += 1;
            let split = node_insert(
                e,
                &mut ch[k].node,
                id,
                leftmost && k == 0,
                rightmost && k == last,
            );
            if let Some(right) = split {
                let c = Node::child(right);
                ch[k].count -= c.count;
                ch.insert(k + 1, c);
            }
            ch[k].min = ch[k].node.first();
            k + 1
        }
    };
    let w = node.width();
    if w <= node.cap() {
        return None;
    }
    let at = if rightmost && pos + 1 >= w {
        w - 1
    } else if leftmost && pos == 0 {
        1
    } else {
        w / 2
    };
    Some(match node {
        Node::Leaf(ids) => {
            let mut right = Vec::with_capacity(LEAF_CAP);
            right.extend_from_slice(&ids[at..]);
            ids.truncate(at);
            Node::Leaf(right)
        }
        Node::Inner(ch) => Node::Inner(ch.split_off(at)),
    })
}

/// Remove `id` from under `node`; false if it is not there.
fn node_remove(e: &[Entry], node: &mut Node, id: u32) -> bool {
    let key = e[id as usize].key();
    match node {
        Node::Leaf(ids) => {
            let p = ids.partition_point(|&x| cmp_key(e[x as usize].key(), key).is_lt());
            if ids.get(p) != Some(&id) {
                return false;
            }
            ids.remove(p);
            true
        }
        Node::Inner(ch) => {
            let k = child_for(e, ch, key);
            if !node_remove(e, &mut ch[k].node, id) {
                return false;
            }
            ch[k].count -= 1;
            if ch[k].node.width() < ch[k].node.cap() / 4 {
                rebalance(ch, k);
            } else {
                ch[k].min = ch[k].node.first();
            }
            true
        }
    }
}

/// Child `k` of `ch` fell below a quarter full: merge it with a neighbour, or even the two
/// out, so every node but the root stays at least a quarter full (depth O(log N)).
fn rebalance(ch: &mut Vec<Child>, k: usize) {
    if ch[k].node.width() == 0 {
        ch.remove(k);
        return;
    }
    if ch.len() == 1 {
        ch[k].min = ch[k].node.first();
        return;
    }
    let (a, b) = if k + 1 < ch.len() {
        (k, k + 1)
    } else {
        (k - 1, k)
    };
    let (lo, hi) = ch.split_at_mut(b);
    let (l, r) = (&mut lo[a], &mut hi[0]);
    let total = l.node.width() + r.node.width();
    match (&mut l.node, &mut r.node) {
        (Node::Leaf(x), Node::Leaf(y)) => {
            if total <= LEAF_CAP {
                x.append(y);
            } else if x.len() > y.len() {
                let moved = x.split_off(total / 2);
                y.splice(0..0, moved);
            } else {
                let take = y.len() - total / 2;
                x.extend(y.drain(..take));
            }
        }
        (Node::Inner(x), Node::Inner(y)) => {
            if total <= INNER_CAP {
                x.append(y);
            } else if x.len() > y.len() {
                let moved = x.split_off(total / 2);
                y.splice(0..0, moved);
            } else {
                let take = y.len() - total / 2;
                x.extend(y.drain(..take));
            }
        }
        _ => unreachable!("siblings are at the same depth"),
    }
    for c in [&mut *l, &mut *r] {
        if c.node.width() > 0 {
            c.count = c.node.count();
            c.min = c.node.first();
        }
    }
    if r.node.width() == 0 {
        ch.remove(b);
    }
}

/// A walk from a rank, one way (see [`ZTree::iter_from`]).
pub struct Iter<'a> {
    entries: &'a [Entry],
    /// Inner nodes on the path to `leaf`, with the child index taken in each.
    stack: Vec<(&'a [Child], usize)>,
    leaf: &'a [u32],
    /// Forward: the next index to yield. Reverse: one past it.
    pos: usize,
    rev: bool,
    left: usize,
}

impl<'a> Iter<'a> {
    /// Move to the next leaf in the walk's direction.
    fn step_leaf(&mut self) -> bool {
        while let Some((ch, k)) = self.stack.pop() {
            let next = if self.rev {
                k.checked_sub(1)
            } else {
                (k + 1 < ch.len()).then_some(k + 1)
            };
            let Some(next) = next else { continue };
            self.stack.push((ch, next));
            let mut node = &ch[next].node;
            loop {
                match node {
                    Node::Leaf(ids) => {
                        self.leaf = ids;
                        self.pos = if self.rev { ids.len() } else { 0 };
                        return true;
                    }
                    Node::Inner(c) => {
                        let at = if self.rev { c.len() - 1 } else { 0 };
                        self.stack.push((c, at));
                        node = &c[at].node;
                    }
                }
            }
        }
        false
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let exhausted = if self.rev {
            self.pos == 0
        } else {
            self.pos >= self.leaf.len()
        };
        if exhausted && !self.step_leaf() {
            return None;
        }
        let id = if self.rev {
            self.pos -= 1;
            self.leaf[self.pos]
        } else {
            self.pos += 1;
            self.leaf[self.pos - 1]
        };
        self.left -= 1;
        Some(self.entries[id as usize].key())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl ZTree {
        /// Every structural promise: order, counts, separators, fill, index and ids.
        fn check(&self) {
            // Only nodes on the tree's left or right edge may be less than a quarter full
            // (an insert at either end splits off a lone element there).
            fn walk(n: &Node, edge: bool, out: &mut Vec<u32>) -> usize {
                if !edge {
                    assert!(n.width() >= n.cap() / 4, "underfull node");
                }
                assert!(n.width() <= n.cap());
                match n {
                    Node::Leaf(ids) => {
                        out.extend_from_slice(ids);
                        ids.len()
                    }
                    Node::Inner(ch) => {
                        let mut total = 0;
                        for (k, c) in ch.iter().enumerate() {
                            let start = out.len();
                            let got = walk(&c.node, edge && (k == 0 || k == ch.len() - 1), out);
                            assert_eq!(got, c.count, "child count");
                            assert_eq!(out[start], c.min, "child min");
                            total += got;
                        }
                        total
                    }
                }
            }
            let mut ids = Vec::new();
            let n = walk(&self.root, true, &mut ids);
            assert_eq!(n, self.len());
            for w in ids.windows(2) {
                let (a, b) = (
                    self.entries[w[0] as usize].key(),
                    self.entries[w[1] as usize].key(),
                );
                assert_eq!(cmp_key(a, b), Ordering::Less, "order");
            }
            let mut seen = ids.clone();
            seen.sort_unstable();
            assert!(
                seen.iter().enumerate().all(|(i, &id)| i as u32 == id),
                "ids dense"
            );
            assert_eq!(self.index.len(), self.len());
            for (id, e) in self.entries.iter().enumerate() {
                assert_eq!(self.id_of(e.member.bytes()), Some(id as u32));
            }
            let heap: usize = self.entries.iter().map(|e| e.member.heap_bytes()).sum();
            assert_eq!(heap, self.heap_members);
        }
    }

    /// The model: a sorted vector of (score, member).
    fn model_sorted(m: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = m.iter().map(|(k, s)| (*s, k.clone())).collect();
        v.sort_by(|a, b| cmp_key((a.0, &a.1), (b.0, &b.1)));
        v
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, i8),
        Remove(u16),
    }

    fn member(k: u16) -> Vec<u8> {
        // Some members are long enough to live on the heap.
        if k.is_multiple_of(7) {
            format!("a-long-member-name-that-spills-{k}").into_bytes()
        } else {
            format!("m{k}").into_bytes()
        }
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (0u16..600, -4i8..4).prop_map(|(k, s)| Op::Insert(k, s)),
                2 => (0u16..600).prop_map(Op::Remove),
            ],
            0..1500,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_sorted_vector_model(ops in ops()) {
            let mut t = ZTree::default();
            let mut model = std::collections::HashMap::new();
            for op in &ops {
                match *op {
                    Op::Insert(k, s) => {
                        let m = member(k);
                        let new = t.insert(&m, f64::from(s));
                        prop_assert_eq!(new, model.insert(m, f64::from(s)).is_none());
                    }
                    Op::Remove(k) => {
                        let m = member(k);
                        prop_assert_eq!(t.remove(&m), model.remove(&m));
                    }
                }
            }
            t.check();
            let sorted = model_sorted(&model);
            let got: Vec<(f64, Vec<u8>)> = t.iter_from(0, false).map(|(s, m)| (s, m.to_vec())).collect();
            prop_assert_eq!(&got, &sorted);
            for (r, (s, m)) in sorted.iter().enumerate() {
                prop_assert_eq!(t.rank(m), Some(r));
                prop_assert_eq!(t.score(m), Some(*s));
                prop_assert_eq!(t.select(r), Some((*s, &m[..])));
            }
            prop_assert_eq!(t.select(sorted.len()), None);
            for bound in -5i8..5 {
                let b = f64::from(bound);
                let want = sorted.iter().filter(|(s, _)| *s < b).count();
                prop_assert_eq!(t.count_before(|s, _| s < b), want);
                let want = sorted.iter().filter(|(s, _)| *s <= b).count();
                prop_assert_eq!(t.count_before(|s, _| s <= b), want);
            }
            let n = sorted.len();
            for r in [0, 1, n / 3, n / 2, n.saturating_sub(1), n, n + 3] {
                let fwd: Vec<(f64, Vec<u8>)> = t.iter_from(r, false).map(|(s, m)| (s, m.to_vec())).collect();
                prop_assert_eq!(&fwd[..], sorted.get(r..).unwrap_or(&[]));
                prop_assert_eq!(t.iter_from(r, false).len(), fwd.len());
                let back: Vec<(f64, Vec<u8>)> = t.iter_from(r, true).map(|(s, m)| (s, m.to_vec())).collect();
                let mut want: Vec<(f64, Vec<u8>)> = if r < n { sorted[..=r].to_vec() } else { Vec::new() };
                want.reverse();
                prop_assert_eq!(back, want);
            }
            if n > 0 {
                for r in [0u64, 7, 1 << 40] {
                    let (s, m) = t.random(r).expect("non-empty");
                    prop_assert_eq!(model.get(m), Some(&s));
                }
            }
        }
    }

    /// Deep trees (four levels) under a random mix, checked against the model as they go.
    #[test]
    fn deep_trees_stay_consistent_under_churn() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = ZTree::default();
        let mut model = std::collections::HashMap::new();
        for round in 0..200_000u32 {
            let k = rnd() % 40_000;
            let m = format!("k{k}").into_bytes();
            // Grow for the first half, then shrink.
            let grow = if round < 120_000 { 4 } else { 1 };
            if rnd() % 5 < grow {
                let s = (rnd() % 1000) as f64;
                assert_eq!(t.insert(&m, s), model.insert(m, s).is_none());
            } else {
                assert_eq!(t.remove(&m), model.remove(&m));
            }
            if round.is_multiple_of(20_000) {
                t.check();
            }
        }
        t.check();
        let sorted = model_sorted(&model);
        for r in (0..sorted.len()).step_by(101) {
            assert_eq!(t.select(r), Some((sorted[r].0, &sorted[r].1[..])));
            assert_eq!(t.rank(&sorted[r].1), Some(r));
        }
        let mut keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        keys.sort();
        for m in keys {
            assert!(t.remove(&m).is_some());
        }
        t.check();
        assert!(t.is_empty());
    }

    #[test]
    fn ascending_inserts_fill_leaves() {
        let mut t = ZTree::default();
        for i in 0..100_000u32 {
            t.insert(&i.to_be_bytes(), f64::from(i));
        }
        t.check();
        fn leaves(n: &Node) -> usize {
            match n {
                Node::Leaf(_) => 1,
                Node::Inner(ch) => ch.iter().map(|c| leaves(&c.node)).sum(),
            }
        }
        // Nearly full leaves: at most one partial leaf per 64 elements plus the tail.
        assert!(
            leaves(&t.root) <= 100_000 / LEAF_CAP + 2,
            "{}",
            leaves(&t.root)
        );
        for i in (0..100_000u32).step_by(997) {
            assert_eq!(t.rank(&i.to_be_bytes()), Some(i as usize));
        }
    }

    #[test]
    fn updates_move_and_removal_shrinks_to_empty() {
        let mut t = ZTree::default();
        for i in 0..5000u32 {
            assert!(t.insert(format!("k{i}").as_bytes(), f64::from(i % 10)));
        }
        assert!(!t.insert(b"k1", -1.0));
        assert_eq!(t.rank(b"k1"), Some(0));
        assert_eq!(t.select(0), Some((-1.0, &b"k1"[..])));
        t.check();
        for i in 0..5000u32 {
            assert!(t.remove(format!("k{i}").as_bytes()).is_some());
            if i.is_multiple_of(500) {
                t.check();
            }
        }
        assert!(t.is_empty());
        t.check();
        assert!(matches!(&t.root, Node::Leaf(v) if v.is_empty()));
        assert_eq!(t.random(3), None);
    }

    #[test]
    fn negative_zero_is_stored_as_zero_and_equals_it() {
        let mut t = ZTree::default();
        t.insert(b"a", -0.0);
        assert!(t.score(b"a").is_some_and(|s| s.is_sign_positive()));
        t.insert(b"b", 0.0);
        assert_eq!(t.rank(b"b"), Some(1));
    }
}
