//! The Merkle tree of the log, as RFC 9162 §2.1 defines it (the tree of Certificate
//! Transparency): leaves in the log's reading order, `leaf = SHA-256(0x00 ‖ event hash)`,
//! `node = SHA-256(0x01 ‖ left ‖ right)`, a tree of `n` leaves split at the largest power of two
//! below `n` (no node is duplicated). Everything here is pure: the hashes, the root, the
//! inclusion and consistency proofs and their verification (RFC 9162 §2.1.3 and §2.1.4).
//!
//! Stored trees are read through their *perfect subtrees* ([`Node`]): a node at `level` L and
//! `index` i covers the leaves `i·2^L .. (i+1)·2^L`. A root or a proof of the RFC's recursion is
//! made of O(log n) of them (an inclusion proof at most 2·⌈log₂ n⌉, a consistency proof 3·⌈log₂
//! n⌉; a property test checks it), so a proof costs one read of O(log n) rows ([`nodes_needed`]
//! says which, before the computation runs on what was read).

use super::Hash;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// `SHA-256(0x00 ‖ data)`: a leaf's hash. Carnet's leaf data is the event's stored `hash`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: an interior node's hash.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A perfect subtree of the log's tree: `level` 0 is a leaf; it covers the leaves
/// `index << level .. (index + 1) << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    pub level: u32,
    pub index: u64,
}

/// The largest power of two strictly below `n` (`n` ≥ 2): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[a:b])`, from the perfect subtrees it is made of.
fn subtree(a: u64, b: u64, node: &mut dyn FnMut(Node) -> Hash) -> Hash {
    let n = b - a;
    if n.is_power_of_two() && a.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return node(Node { level, index: a >> level });
    }
    let k = split(n);
    let left = subtree(a, a + k, node);
    let right = subtree(a + k, b, node);
    node_hash(&left, &right)
}

/// The root of the first `size` leaves.
pub fn root(size: u64, node: &mut dyn FnMut(Node) -> Hash) -> Hash {
    if size == 0 { empty_root() } else { subtree(0, size, node) }
}

/// RFC 9162 `PATH(m, D[a:b])`, leaf to root.
fn path(m: u64, a: u64, b: u64, node: &mut dyn FnMut(Node) -> Hash, out: &mut Vec<Hash>) {
    let n = b - a;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, a, a + k, node, out);
        out.push(subtree(a + k, b, node));
    } else {
        path(m - k, a + k, b, node, out);
        out.push(subtree(a, a + k, node));
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (`index < size`).
pub fn inclusion_proof(index: u64, size: u64, node: &mut dyn FnMut(Node) -> Hash) -> Vec<Hash> {
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, node, &mut out);
    }
    out
}

/// RFC 9162 `SUBPROOF(m, D[a:b], start)`.
fn subproof(m: u64, a: u64, b: u64, start: bool, node: &mut dyn FnMut(Node) -> Hash, out: &mut Vec<Hash>) {
    let n = b - a;
    if m == n {
        if !start {
            out.push(subtree(a, b, node));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, a, a + k, start, node, out);
        out.push(subtree(a + k, b, node));
    } else {
        subproof(m - k, a + k, b, false, node, out);
        out.push(subtree(a, a + k, node));
    }
}

/// The consistency proof from the tree of `first` leaves to the tree of `second`
/// (`0 < first ≤ second`; empty when `first` is 0 or equals `second`).
pub fn consistency_proof(first: u64, second: u64, node: &mut dyn FnMut(Node) -> Hash) -> Vec<Hash> {
    let mut out = Vec::new();
    if 0 < first && first < second {
        subproof(first, 0, second, true, node, &mut out);
    }
    out
}

/// The perfect subtrees a computation over the tree reads: run it once with every node a zero
/// hash, and collect the nodes it asked for.
pub fn nodes_needed(compute: impl FnOnce(&mut dyn FnMut(Node) -> Hash)) -> BTreeSet<Node> {
    let mut asked = BTreeSet::new();
    compute(&mut |n| {
        asked.insert(n);
        [0; 32]
    });
    asked
}

/// Why a proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the tree of {second} leaves cannot extend the tree of {first}")]
    SizesBackwards { first: u64, second: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof leads to another root")]
    RootMismatch,
}

/// The walk of RFC 9162's verification algorithms up the tree: `f` the node's index at the
/// current level, `s` the last node's.
struct Walk {
    f: u64,
    s: u64,
}

impl Walk {
    /// One level up, for the next proof hash: whether that hash is a left sibling (hashed
    /// before). Past the right edge (`f == s`, `f` even) it climbs the levels where the node has
    /// no sibling. `WrongLength` when the walk is already at the root.
    fn up(&mut self) -> Result<bool, ProofError> {
        if self.s == 0 {
            return Err(ProofError::WrongLength);
        }
        let left = self.f & 1 == 1 || self.f == self.s;
        if left && self.f & 1 == 0 {
            while self.f & 1 == 0 && self.f != 0 {
                self.f >>= 1;
                self.s >>= 1;
            }
        }
        self.f >>= 1;
        self.s >>= 1;
        Ok(left)
    }
}

/// RFC 9162 §2.1.3.2: whether `proof` shows leaf `index` (its leaf hash `leaf`) in the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut walk = Walk { f: index, s: size - 1 };
    let mut r = *leaf;
    for p in proof {
        r = if walk.up()? { node_hash(p, &r) } else { node_hash(&r, p) };
    }
    if walk.s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `second` leaves (root `second_root`)
/// extends the tree of `first` leaves (root `first_root`), appending only.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesBackwards { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if first == 0 {
        // the empty tree is a prefix of every tree
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength) };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else { return Err(ProofError::WrongLength) };
    let mut walk = Walk { f: first - 1, s: second - 1 };
    while walk.f & 1 == 1 {
        walk.f >>= 1;
        walk.s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if walk.up()? {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    }
    if walk.s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a tree being built leaf by leaf: the perfect subtrees of its binary
/// decomposition, largest first (`size`'s one bits, high to low). Adding a leaf merges equal
/// levels; every node it makes is given to the caller to store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(Node, Hash)>,
}

impl Frontier {
    /// The nodes of the right edge of a tree of `size` leaves, largest first (what
    /// [`Frontier::resume`] takes).
    pub fn edge(size: u64) -> Vec<Node> {
        let mut nodes = Vec::new();
        let mut start = 0;
        for level in (0..64).rev() {
            if size & (1 << level) != 0 {
                nodes.push(Node { level, index: start >> level });
                start += 1 << level;
            }
        }
        nodes
    }

    /// The frontier of a tree of `size` leaves, from the hashes of [`Frontier::edge`]'s nodes.
    pub fn resume(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        let edge = Self::edge(size);
        (edge.len() == hashes.len()).then(|| Self { size, nodes: edge.into_iter().zip(hashes).collect() })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf (its leaf hash); `made` receives the leaf's node and every node merged.
    pub fn push(&mut self, leaf: Hash, made: &mut impl FnMut(Node, Hash)) {
        let mut node = (Node { level: 0, index: self.size }, leaf);
        made(node.0, node.1);
        while let Some(&(left, left_hash)) = self.nodes.last() {
            if left.level != node.0.level {
                break;
            }
            self.nodes.pop();
            node = (Node { level: left.level + 1, index: left.index >> 1 }, node_hash(&left_hash, &node.1));
            made(node.0, node.1);
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(&(_, last)) = nodes.next() else { return empty_root() };
        nodes.fold(last, |right, (_, left)| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::{from_hex, to_hex};
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The reference leaves and roots of RFC 6962/9162 implementations (Certificate
    /// Transparency's, `transparency-dev/merkle` `testonly`), as data.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// (leaf index, tree size, proof)
    const INCLUSION: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    /// (first size, second size, proof)
    const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|h| from_hex(h).unwrap()).collect()
    }

    /// Every perfect subtree of `leaves`, as a store would hold them (built by [`Frontier`]).
    fn stored(leaves: &[Hash]) -> HashMap<Node, Hash> {
        let mut nodes = HashMap::new();
        let mut frontier = Frontier::default();
        for leaf in leaves {
            frontier.push(*leaf, &mut |n, h| {
                nodes.insert(n, h);
            });
        }
        nodes
    }

    /// The RFC's `MTH`, computed the naive way, straight from the definition.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn reference_leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&unhex(l))).collect()
    }

    #[test]
    fn roots_are_the_reference_ones_for_every_size() {
        let leaves = reference_leaves();
        let nodes = stored(&leaves);
        for (size, want) in ROOTS.iter().enumerate() {
            assert_eq!(to_hex(&root(size as u64, &mut |n| nodes[&n])), *want, "size {size}");
            let mut frontier = Frontier::default();
            leaves[..size].iter().for_each(|l| frontier.push(*l, &mut |_, _| {}));
            assert_eq!(to_hex(&frontier.root()), *want, "frontier of size {size}");
        }
    }

    #[test]
    fn the_split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512), (1 << 40, 1 << 39)] {
            assert_eq!(split(n), k, "{n}");
        }
    }

    #[test]
    fn proofs_are_the_reference_ones_and_verify() {
        let leaves = reference_leaves();
        let nodes = stored(&leaves);
        let roots = hashes(&ROOTS);
        for (index, size, want) in INCLUSION {
            let proof = inclusion_proof(index, size, &mut |n| nodes[&n]);
            assert_eq!(proof, hashes(want), "inclusion of {index} in {size}");
            verify_inclusion(index, size, &leaves[index as usize], &proof, &roots[size as usize]).unwrap();
        }
        for (first, second, want) in CONSISTENCY {
            let proof = consistency_proof(first, second, &mut |n| nodes[&n]);
            assert_eq!(proof, hashes(want), "consistency of {first} and {second}");
            verify_consistency(first, second, &roots[first as usize], &roots[second as usize], &proof).unwrap();
        }
    }

    #[test]
    fn a_proof_altered_in_any_way_is_refused() {
        let leaves = reference_leaves();
        let nodes = stored(&leaves);
        let roots = hashes(&ROOTS);
        let (index, size) = (5, 8);
        let proof = inclusion_proof(index, size, &mut |n| nodes[&n]);
        let root = roots[8];
        let leaf = leaves[5];
        assert!(verify_inclusion(index - 1, size, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index + 1, size, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size * 2, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size / 2, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size, &leaves[4], &proof, &root).is_err());
        assert!(verify_inclusion(index, size, &leaf, &proof, &roots[7]).is_err());
        assert!(verify_inclusion(index, size, &leaf, &proof[..2], &root).is_err());
        assert!(verify_inclusion(index, size, &leaf, &[proof.clone(), vec![root]].concat(), &root).is_err());
        assert!(verify_inclusion(index, size, &leaf, &[vec![root], proof.clone()].concat(), &root).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 8;
            assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err(), "bit flipped in {i}");
        }

        let (first, second) = (6, 8);
        let proof = consistency_proof(first, second, &mut |n| nodes[&n]);
        let (r1, r2) = (roots[6], roots[8]);
        assert!(verify_consistency(first - 1, second, &r1, &r2, &proof).is_err());
        assert!(verify_consistency(first + 1, second, &r1, &r2, &proof).is_err());
        assert!(verify_consistency(first, second * 2, &r1, &r2, &proof).is_err());
        assert!(verify_consistency(first, second, &r2, &r1, &proof).is_err());
        assert!(verify_consistency(first, second, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(first, second, &r1, &r2, &proof[..2]).is_err());
        assert!(verify_consistency(first, second, &r1, &r2, &[proof.clone(), vec![r1]].concat()).is_err());
        assert!(verify_consistency(second, first, &r2, &r1, &proof).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 16;
            assert!(verify_consistency(first, second, &r1, &r2, &bad).is_err(), "bit flipped in {i}");
        }
        // trivial cases
        verify_consistency(0, 8, &empty_root(), &r2, &[]).unwrap();
        verify_consistency(8, 8, &r2, &r2, &[]).unwrap();
        assert!(verify_consistency(8, 8, &r1, &r2, &[]).is_err());
        assert!(verify_inclusion(0, 0, &leaf, &[], &root).is_err());
    }

    #[test]
    fn a_frontier_resumed_from_its_edge_goes_on_as_before() {
        let leaves: Vec<Hash> = (0u32..100).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let nodes = stored(&leaves);
        for size in 0..60u64 {
            let edge: Vec<Hash> = Frontier::edge(size).iter().map(|n| nodes[n]).collect();
            let mut resumed = Frontier::resume(size, edge).unwrap();
            leaves[size as usize..].iter().for_each(|l| resumed.push(*l, &mut |_, _| {}));
            assert_eq!(resumed.root(), naive_root(&leaves), "resumed at {size}");
        }
        assert!(Frontier::resume(3, vec![[0; 32]]).is_none(), "a size of 3 has two edge nodes");
    }

    proptest! {
        /// Against the naive recomputation, for random sizes: every root, every leaf's inclusion
        /// proof, and every consistency proof between two sizes verify, and read O(log n) nodes.
        #[test]
        fn proofs_agree_with_the_naive_tree(size in 1u64..300, a in 0u64..300, b in 0u64..300) {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let nodes = stored(&leaves);
            let get = |n: Node| nodes[&n];
            let (index, first) = (a % size, 1 + b % size);
            let full = naive_root(&leaves);
            prop_assert_eq!(root(size, &mut { get }), full);
            let proof = inclusion_proof(index, size, &mut { get });
            prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &full).is_ok());
            let old = naive_root(&leaves[..first as usize]);
            let proof = consistency_proof(first, size, &mut { get });
            prop_assert!(verify_consistency(first, size, &old, &full, &proof).is_ok());
            let log = 64 - size.leading_zeros() as usize;
            let read = nodes_needed(|node| { consistency_proof(first, size, node); });
            prop_assert!(read.len() <= 3 * log, "{} nodes for {first}..{size}", read.len());
            let read = nodes_needed(|node| { inclusion_proof(index, size, node); });
            prop_assert!(read.len() <= 2 * log, "{} nodes for leaf {index} of {size}", read.len());
        }
    }
}
