//! RFC 6962 Merkle tree: hashes, the append frontier, proofs and their verification.
//!
//! Leaf `i` of a tree of size `n` is event `seq = i + 1`. Proof generation reads hashes through
//! [`TreeStore`], so the Durable Object (SQLite rows) and the verifier (hashes recomputed from
//! R2 objects) can back it; [`MemoryTree`] is the in-memory implementation. Verification
//! follows RFC 9162 §2.1.3.2 and §2.1.4.2 and takes raw byte slices, because proofs arrive
//! from outside and a hash of the wrong length must be a coded error, not a panic.

use super::error::AuditError;
use super::hash::Hash32;
use serde::{Deserialize, Serialize};

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    Hash32::sha256(&[&[0x00], data])
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    Hash32::sha256(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash32 {
    Hash32::sha256(&[])
}

/// Largest power of two strictly below `n` (RFC 6962's split point `k`). `n` must be ≥ 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree: roots of the perfect subtrees that the binary decomposition of
/// `size` gives, largest (leftmost) first. Enough to append in O(log n) and to compute the
/// root of the current size; small enough (≤ 64 hashes) to keep in Durable Object storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierParts", into = "FrontierParts")]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash32>,
}

#[derive(Serialize, Deserialize)]
struct FrontierParts {
    size: u64,
    nodes: Vec<Hash32>,
}

impl TryFrom<FrontierParts> for Frontier {
    type Error = AuditError;
    fn try_from(parts: FrontierParts) -> Result<Self, AuditError> {
        Frontier::from_parts(parts.size, parts.nodes)
    }
}

impl From<Frontier> for FrontierParts {
    fn from(f: Frontier) -> Self {
        FrontierParts {
            size: f.size,
            nodes: f.nodes,
        }
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds a frontier from stored parts. Errors with `AUDIT_HASH_MALFORMED` unless there
    /// is exactly one node per set bit of `size`.
    pub fn from_parts(size: u64, nodes: Vec<Hash32>) -> Result<Self, AuditError> {
        if nodes.len() != size.count_ones() as usize {
            return Err(AuditError::HashMalformed {
                detail: format!(
                    "frontier of size {size} needs {} nodes, got {}",
                    size.count_ones(),
                    nodes.len()
                ),
            });
        }
        Ok(Frontier { size, nodes })
    }

    /// Reads the frontier of the first `size` leaves from storage (one perfect-subtree read
    /// per set bit of `size`).
    pub fn from_store<S: TreeStore + ?Sized>(store: &S, size: u64) -> Result<Self, AuditError> {
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                nodes.push(store.perfect_subtree(level, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(Frontier { size, nodes })
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, leftmost (largest) first.
    pub fn nodes(&self) -> &[Hash32] {
        &self.nodes
    }

    /// Appends one leaf hash: O(log n) node hashes in the worst case, O(1) amortised.
    pub fn append(&mut self, leaf: Hash32) {
        self.append_with(leaf, |_| {});
    }

    /// Appends one leaf hash like [`Frontier::append`] and returns the perfect subtrees of two
    /// or more leaves that this leaf completes, smallest first. A store that keeps every leaf
    /// plus every subtree reported here can answer any [`TreeStore::perfect_subtree`] read
    /// with one lookup.
    pub fn append_completing(&mut self, leaf: Hash32) -> Vec<Subtree> {
        let mut completed = Vec::new();
        self.append_with(leaf, |subtree| completed.push(subtree));
        completed
    }

    fn append_with(&mut self, leaf: Hash32, mut on_complete: impl FnMut(Subtree)) {
        let leaf_index = self.size;
        let mut carry = leaf;
        let mut size = self.size;
        let mut level = 0;
        // Each trailing 1-bit of the old size is a perfect subtree the new leaf completes.
        while size & 1 == 1 {
            let left = self
                .nodes
                .pop()
                .expect("one frontier node per set bit of size");
            carry = node_hash(&left, &carry);
            level += 1;
            on_complete(Subtree {
                level,
                index: leaf_index >> level,
                hash: carry,
            });
            size >>= 1;
        }
        self.nodes.push(carry);
        self.size += 1;
    }

    /// RFC 6962 Merkle tree hash of the current size.
    pub fn root(&self) -> Hash32 {
        let mut nodes = self.nodes.iter().rev();
        match nodes.next() {
            None => empty_root(),
            Some(last) => nodes.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// The root of a perfect subtree: `2^level` leaves starting at leaf `index · 2^level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subtree {
    /// Height: 0 is a leaf, 1 a pair of leaves, …
    pub level: u32,
    /// Position among the subtrees of its level, from the left.
    pub index: u64,
    /// RFC 6962 hash of the subtree.
    pub hash: Hash32,
}

/// Read access to the hashes of a tree, for proofs and historical roots.
///
/// Implementations provide leaf hashes; a store that keeps interior nodes (as
/// [`MemoryTree`] does, and as the Durable Object should for large logs) overrides
/// [`TreeStore::perfect_subtree`] so any range hash costs O(log n) reads instead of O(n).
pub trait TreeStore {
    /// Leaf hashes `start..end` (zero-based leaf indices), in order; exactly `end − start` of
    /// them, or `AUDIT_STORE_UNAVAILABLE`.
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError>;

    /// Root of the perfect subtree of `2^level` leaves starting at leaf `index · 2^level`.
    /// The default hashes it from the leaves.
    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash32, AuditError> {
        if level >= 64 {
            return Err(AuditError::StoreUnavailable {
                detail: format!("no subtree at level {level}"),
            });
        }
        let start = index
            .checked_mul(1 << level)
            .ok_or_else(|| AuditError::StoreUnavailable {
                detail: format!("subtree {index} at level {level} is out of range"),
            })?;
        let mut layer = self.leaf_hashes(start, start + (1 << level))?;
        while layer.len() > 1 {
            layer = layer
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        layer.pop().ok_or_else(|| AuditError::StoreUnavailable {
            detail: "store returned no leaves".into(),
        })
    }

    /// RFC 6962 Merkle tree hash of leaves `start..end`. Ranges that proofs use (aligned
    /// perfect subtrees and right edges of them) cost O(log n) perfect-subtree reads.
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash32, AuditError> {
        if end < start {
            return Err(AuditError::ProofRangeInvalid {
                detail: format!("range {start}..{end} is reversed"),
            });
        }
        let n = end - start;
        if n == 0 {
            return Ok(empty_root());
        }
        if n.is_power_of_two() && start.is_multiple_of(n) {
            return self.perfect_subtree(n.trailing_zeros(), start / n);
        }
        let k = split_point(n);
        let left = self.range_hash(start, start + k)?;
        let right = self.range_hash(start + k, end)?;
        Ok(node_hash(&left, &right))
    }
}

/// Root of the first `size` leaves of `store`.
pub fn root_at<S: TreeStore + ?Sized>(store: &S, size: u64) -> Result<Hash32, AuditError> {
    store.range_hash(0, size)
}

/// A whole tree in memory, keeping every perfect subtree (2n hashes) so proofs at any size
/// are O(log n). Used by tests, benchmarks and the verifier's in-memory pages.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[k][i]` is the root of the perfect subtree of `2^k` leaves starting at `i · 2^k`.
    levels: Vec<Vec<Hash32>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends one leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: Hash32) {
        let mut carry = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(carry);
            if row.len() % 2 == 1 {
                break;
            }
            carry = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Root of the current size.
    pub fn root(&self) -> Hash32 {
        root_at(self, self.size()).expect("a memory tree holds every subtree of its size")
    }
}

impl TreeStore for MemoryTree {
    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError> {
        let leaves = self.levels.first().map_or(&[][..], |l| &l[..]);
        if start > end || end > leaves.len() as u64 {
            return Err(AuditError::StoreUnavailable {
                detail: format!("leaves {start}..{end} of a tree of size {}", leaves.len()),
            });
        }
        Ok(leaves[start as usize..end as usize].to_vec())
    }

    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash32, AuditError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or_else(|| AuditError::StoreUnavailable {
                detail: format!("no subtree {index} at level {level}"),
            })
    }
}

/// RFC 6962 audit path for leaf `index` in the tree of the first `size` leaves, leaf-level
/// sibling first. Errors: `AUDIT_PROOF_RANGE_INVALID` unless `index < size`.
pub fn inclusion_proof<S: TreeStore + ?Sized>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash32>, AuditError> {
    if index >= size {
        return Err(AuditError::ProofRangeInvalid {
            detail: format!("leaf {index} is not in a tree of size {size}"),
        });
    }
    // Walk down from the root, collecting the sibling subtree at each split.
    let mut path = Vec::with_capacity(64);
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(store.range_hash(start + k, end)?);
            end = start + k;
        } else {
            path.push(store.range_hash(start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 6962 consistency proof from size `size1` to `size2`. Empty when the sizes are equal.
/// Errors: `AUDIT_PROOF_RANGE_INVALID` when `size1` is 0 (the empty tree is a prefix of
/// every tree; there is nothing to prove) or `size1 > size2`.
pub fn consistency_proof<S: TreeStore + ?Sized>(
    store: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash32>, AuditError> {
    if size1 == 0 || size1 > size2 {
        return Err(AuditError::ProofRangeInvalid {
            detail: format!("no consistency proof from size {size1} to size {size2}"),
        });
    }
    // RFC 6962 §2.1.2 SUBPROOF, walked from the root; `whole_old_tree` is its flag `b`.
    let mut proof = Vec::with_capacity(64);
    let (mut m, mut start, mut end, mut whole_old_tree) = (size1, 0u64, size2, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole_old_tree {
                proof.push(store.range_hash(start, end)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(store.range_hash(start + k, end)?);
            end = start + k;
        } else {
            proof.push(store.range_hash(start, start + k)?);
            m -= k;
            start += k;
            whole_old_tree = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

fn hash_arg(bytes: &[u8]) -> Result<Hash32, AuditError> {
    Hash32::from_slice(bytes).map_err(|_| AuditError::ProofHashMalformed)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of size `size` whose root is `root`.
///
/// Errors: `AUDIT_PROOF_RANGE_INVALID` (index ≥ size), `AUDIT_PROOF_HASH_MALFORMED` (a leaf
/// or proof hash not 32 bytes), `AUDIT_PROOF_LENGTH` (too few or too many proof hashes),
/// `AUDIT_PROOF_ROOT_MISMATCH` (the path does not lead to `root`).
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), AuditError> {
    if index >= size {
        return Err(AuditError::ProofRangeInvalid {
            detail: format!("leaf {index} is not in a tree of size {size}"),
        });
    }
    let mut r = hash_arg(leaf_hash)?;
    // RFC 9162 §2.1.3.2 with fn = index, sn = size − 1.
    let (mut f, mut s) = (index, size - 1);
    for p in proof {
        let p = hash_arg(p.as_ref())?;
        if s == 0 {
            return Err(AuditError::ProofLength {
                detail: format!("more than the hashes needed for leaf {index} of {size}"),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(AuditError::ProofLength {
            detail: format!("fewer than the hashes needed for leaf {index} of {size}"),
        });
    }
    if r.as_bytes()[..] != *root {
        return Err(AuditError::ProofRootMismatch);
    }
    Ok(())
}

/// Checks that the tree of size `size1` with root `root1` is a prefix of the tree of size
/// `size2` with root `root2`.
///
/// Equal sizes need an empty proof and byte-equal roots. Errors:
/// `AUDIT_PROOF_RANGE_INVALID` (`size1` is 0 or exceeds `size2`), `AUDIT_PROOF_HASH_MALFORMED`,
/// `AUDIT_PROOF_LENGTH`, `AUDIT_PROOF_ROOT_MISMATCH`.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), AuditError> {
    if size1 == 0 || size1 > size2 {
        return Err(AuditError::ProofRangeInvalid {
            detail: format!("no consistency proof from size {size1} to size {size2}"),
        });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(AuditError::ProofLength {
                detail: "equal sizes need an empty proof".into(),
            });
        }
        if root1 != root2 {
            return Err(AuditError::ProofRootMismatch);
        }
        return Ok(());
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    // When the old tree is a perfect subtree of the new one, its root is the proof's start.
    if size1.is_power_of_two() {
        path.push(hash_arg(root1)?);
    }
    for p in proof {
        path.push(hash_arg(p.as_ref())?);
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(AuditError::ProofLength {
            detail: "empty proof for different sizes".into(),
        });
    };
    // RFC 9162 §2.1.4.2 with fn = size1 − 1, sn = size2 − 1.
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(AuditError::ProofLength {
                detail: format!("more than the hashes needed from {size1} to {size2}"),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(AuditError::ProofLength {
            detail: format!("fewer than the hashes needed from {size1} to {size2}"),
        });
    }
    if fr.as_bytes()[..] != *root1 || sr.as_bytes()[..] != *root2 {
        return Err(AuditError::ProofRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// The RFC 6962 definition, straight from the text, as the oracle.
    fn reference_root(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash32> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in leaves(n) {
            t.push(l);
        }
        t
    }

    /// A store with only leaves, counting reads, to pin the default trait paths.
    struct LeafOnly {
        leaves: Vec<Hash32>,
        reads: Cell<u64>,
    }

    impl TreeStore for LeafOnly {
        fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError> {
            self.reads.set(self.reads.get() + (end - start));
            self.leaves
                .get(start as usize..end as usize)
                .map(<[Hash32]>::to_vec)
                .ok_or(AuditError::StoreUnavailable {
                    detail: "out of range".into(),
                })
        }
    }

    #[test]
    fn empty_tree_root_is_sha256_of_empty_string() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Frontier::new().root(), empty_root());
        assert_eq!(MemoryTree::new().root(), empty_root());
    }

    #[test]
    fn leaf_and_node_hashes_match_rfc6962_known_answers() {
        // Leaf hash of the empty leaf, and of the first leaf of the RFC 6962 test tree
        // (the "0x00" leaf), as published with the Certificate Transparency test vectors.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            leaf_hash(&[0x00]).to_hex(),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
        let l0 = leaf_hash(b"");
        let l1 = leaf_hash(&[0x00]);
        assert_eq!(
            node_hash(&l0, &l1),
            Hash32::sha256(&[&[0x01], l0.as_bytes(), l1.as_bytes()])
        );
    }

    #[test]
    fn rfc6962_test_tree_roots_match_the_published_values() {
        // The eight leaves of the CT / transparency-dev reference tree and its roots at sizes
        // 1..=8 (the probe vectors' roots are drawn from these).
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut frontier = Frontier::new();
        let mut t = MemoryTree::new();
        for (d, want) in data.iter().zip(roots) {
            frontier.append(leaf_hash(d));
            t.push(leaf_hash(d));
            assert_eq!(frontier.root().to_hex(), want);
            assert_eq!(t.root().to_hex(), want);
        }
    }

    #[test]
    fn frontier_root_equals_the_rfc6962_definition_at_every_size() {
        let all = leaves(130);
        let mut f = Frontier::new();
        for n in 0..=all.len() {
            assert_eq!(f.root(), reference_root(&all[..n]), "size {n}");
            assert_eq!(f.nodes().len(), (n as u64).count_ones() as usize);
            if n < all.len() {
                f.append(all[n]);
            }
        }
    }

    #[test]
    fn historical_roots_come_from_stored_subtrees() {
        let all = leaves(100);
        let t = tree(100);
        for n in 0..=100u64 {
            assert_eq!(root_at(&t, n).unwrap(), reference_root(&all[..n as usize]));
        }
    }

    #[test]
    fn frontier_read_from_store_continues_appending_identically() {
        let all = leaves(77);
        let t = tree(77);
        for size in [0u64, 1, 2, 31, 32, 33, 64, 76] {
            let mut f = Frontier::from_store(&t, size).unwrap();
            assert_eq!(f.root(), reference_root(&all[..size as usize]));
            for l in &all[size as usize..] {
                f.append(*l);
            }
            assert_eq!(f.root(), reference_root(&all));
        }
    }

    #[test]
    fn completed_subtrees_are_exactly_the_stored_subtrees_of_a_memory_tree() {
        let all = leaves(100);
        let t = tree(100);
        let mut f = Frontier::new();
        let mut seen = 0;
        for (i, l) in all.iter().enumerate() {
            let completed = f.append_completing(*l);
            // Leaf i completes one subtree per trailing 1-bit of i, smallest first.
            assert_eq!(completed.len(), (i as u64).trailing_ones() as usize);
            for (n, s) in completed.iter().enumerate() {
                assert_eq!(s.level, n as u32 + 1);
                assert_eq!(s.hash, t.perfect_subtree(s.level, s.index).unwrap());
                assert!(s.index << s.level <= i as u64);
                assert_eq!(((s.index + 1) << s.level) - 1, i as u64);
            }
            seen += completed.len();
        }
        // Every interior node of every perfect subtree appears exactly once: n − popcount(n).
        assert_eq!(seen as u64, 100 - 100u64.count_ones() as u64);
        assert_eq!(f.root(), t.root());
    }

    #[test]
    fn frontier_round_trips_through_serde_and_rejects_wrong_node_counts() {
        let mut f = Frontier::new();
        for l in leaves(11) {
            f.append(l);
        }
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Frontier>(&json).unwrap(), f);
        let bad = format!(r#"{{"size":12,"nodes":["{}"]}}"#, f.nodes()[0]);
        assert!(serde_json::from_str::<Frontier>(&bad).is_err());
        assert!(Frontier::from_parts(3, vec![empty_root()]).is_err());
    }

    #[test]
    fn generated_proofs_verify_for_every_leaf_and_size_up_to_70() {
        let t = tree(70);
        for size in 1..=70u64 {
            let root = root_at(&t, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&t, index, size).unwrap();
                let leaf = t.perfect_subtree(0, index).unwrap();
                verify_inclusion(index, size, leaf.as_bytes(), &proof, root.as_bytes())
                    .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));
                // Any other leaf or root fails.
                let other = leaf_hash(b"not a leaf");
                assert!(
                    verify_inclusion(index, size, other.as_bytes(), &proof, root.as_bytes())
                        .is_err()
                );
            }
        }
    }

    #[test]
    fn generated_consistency_proofs_verify_for_every_pair_up_to_70() {
        let t = tree(70);
        for size2 in 1..=70u64 {
            let root2 = root_at(&t, size2).unwrap();
            for size1 in 1..=size2 {
                let root1 = root_at(&t, size1).unwrap();
                let proof = consistency_proof(&t, size1, size2).unwrap();
                verify_consistency(size1, size2, &proof, root1.as_bytes(), root2.as_bytes())
                    .unwrap_or_else(|e| panic!("{size1} -> {size2}: {e}"));
                if size1 < size2 {
                    let wrong = leaf_hash(b"wrong");
                    assert_eq!(
                        verify_consistency(
                            size1,
                            size2,
                            &proof,
                            wrong.as_bytes(),
                            root2.as_bytes()
                        ),
                        Err(AuditError::ProofRootMismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn proofs_refuse_impossible_ranges_with_a_code() {
        let t = tree(8);
        assert_eq!(
            inclusion_proof(&t, 8, 8).unwrap_err().code(),
            "AUDIT_PROOF_RANGE_INVALID"
        );
        assert_eq!(
            consistency_proof(&t, 0, 8).unwrap_err().code(),
            "AUDIT_PROOF_RANGE_INVALID"
        );
        assert_eq!(
            consistency_proof(&t, 5, 4).unwrap_err().code(),
            "AUDIT_PROOF_RANGE_INVALID"
        );
        assert!(consistency_proof(&t, 8, 8).unwrap().is_empty());
        assert_eq!(
            inclusion_proof(&t, 3, 9).unwrap_err().code(),
            "AUDIT_STORE_UNAVAILABLE"
        );
    }

    #[test]
    fn leaf_only_store_gives_the_same_proofs_through_default_methods() {
        let all = leaves(45);
        let store = LeafOnly {
            leaves: all.clone(),
            reads: Cell::new(0),
        };
        let t = tree(45);
        assert_eq!(root_at(&store, 45).unwrap(), reference_root(&all));
        assert_eq!(
            inclusion_proof(&store, 17, 45).unwrap(),
            inclusion_proof(&t, 17, 45).unwrap()
        );
        assert_eq!(
            consistency_proof(&store, 13, 45).unwrap(),
            consistency_proof(&t, 13, 45).unwrap()
        );
        assert!(store.reads.get() > 0);
    }

    #[test]
    fn inclusion_proof_at_a_million_leaves_reads_only_log_n_subtrees() {
        const SIZE: u64 = 1_000_000;
        let mut t = MemoryTree::new();
        for i in 0..SIZE {
            // Any distinct 32 bytes serve as leaf hashes here; the tree's own hashing is real.
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&i.to_be_bytes());
            t.push(Hash32::from_bytes(b));
        }
        /// Counts perfect-subtree reads through to the real tree.
        struct Counting<'a>(&'a MemoryTree, Cell<u64>);
        impl TreeStore for Counting<'_> {
            fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash32>, AuditError> {
                self.0.leaf_hashes(start, end)
            }
            fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash32, AuditError> {
                self.1.set(self.1.get() + 1);
                self.0.perfect_subtree(level, index)
            }
        }
        let counting = Counting(&t, Cell::new(0));
        let root = t.root();
        for index in [0, 1, 499_999, 524_288, 999_999] {
            counting.1.set(0);
            let proof = inclusion_proof(&counting, index, SIZE).unwrap();
            assert!(proof.len() <= 20, "{} hashes", proof.len());
            // 20 levels, plus the right-edge subtrees of 1,000,000 (7 set bits).
            assert!(counting.1.get() <= 40, "{} reads", counting.1.get());
            let leaf = t.perfect_subtree(0, index).unwrap();
            verify_inclusion(index, SIZE, leaf.as_bytes(), &proof, root.as_bytes()).unwrap();
        }
        counting.1.set(0);
        let proof = consistency_proof(&counting, 700_001, SIZE).unwrap();
        assert!(counting.1.get() <= 60, "{} reads", counting.1.get());
        let root1 = root_at(&t, 700_001).unwrap();
        verify_consistency(700_001, SIZE, &proof, root1.as_bytes(), root.as_bytes()).unwrap();
    }
}
