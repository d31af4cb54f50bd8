"""RFC 9162 (RFC 6962) Merkle trees: hashing, proofs, and their verification.

Pure functions over bytes. Proof *generation* is split in two steps so that storage can
serve any proof with one batched read:

1. ``inclusion_plan`` / ``consistency_plan`` say which perfect subtrees are needed: each
   proof element is the hash of a range of leaves, and every range in an RFC 9162 tree is a
   left-to-right run of perfect, aligned subtrees (``NodeId``), folded right to left.
2. ``assemble`` turns a plan and the looked-up subtree hashes into the proof.

A ``NodeId`` ``(level, index)`` names the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf hash.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2, after checking that every hash is 32
bytes and that the proof has exactly the length its sizes imply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from ledger.errors import (
    HashLengthError,
    IndexRangeError,
    MalformedInputError,
    ProofSizeError,
    RootMismatchError,
)

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""(level, index): the perfect subtree over leaves [index << level, (index + 1) << level)."""

Plan = list[list[NodeId]]
"""One entry per proof element: the perfect subtrees whose right fold is that element."""

_sha256 = hashlib.sha256


def hash_leaf(data: bytes) -> bytes:
    """MTH of a one-leaf tree: SHA-256(0x00 || data)."""
    return _sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def check_hash(value: bytes, what: str) -> bytes:
    """Return ``value`` if it is a 32-byte hash, else raise ``HashLengthError``."""
    if not isinstance(value, bytes | bytearray):
        raise MalformedInputError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise HashLengthError(what, len(value))
    return bytes(value)


def _check_size(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(f"{what} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise MalformedInputError(f"{what} must not be negative, got {value}")


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the tree whose leaves have these hashes (empty tree: SHA-256 of nothing)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # A stack of (level, hash) of perfect subtrees, merged as in a binary counter.
    stack: list[tuple[int, bytes]] = []
    for leaf in leaf_hashes:
        level, node = 0, leaf
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            node = hash_children(left, node)
            level += 1
        stack.append((level, node))
    return fold_right([node for _, node in stack])


def fold_right(nodes: Sequence[bytes]) -> bytes:
    """Hash a left-to-right run of perfect subtrees into the root of their range."""
    acc = nodes[-1]
    for node in reversed(nodes[:-1]):
        acc = hash_children(node, acc)
    return acc


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """Perfect aligned subtrees covering leaves [begin, end), left to right.

    For a range that is a node of an RFC 9162 tree, their right fold is that node's hash.
    """
    nodes: list[NodeId] = []
    while begin < end:
        # The largest aligned block starting at begin that fits in the range.
        align = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        level = min(align, (end - begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def inclusion_proof_size(index: int, size: int) -> int:
    """Number of hashes in the inclusion proof of leaf ``index`` in a tree of ``size``."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def inclusion_plan(index: int, size: int) -> Plan:
    """Which subtrees form the inclusion proof of ``index`` in a tree of ``size``.

    Requires 0 <= index < size. Elements are ordered from the leaf upwards (RFC 9162 PATH).
    """
    _check_size(index, "leaf index")
    _check_size(size, "tree size")
    if index >= size:
        raise IndexRangeError(f"leaf index {index} is beyond tree size {size}")
    plan: Plan = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            plan.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            plan.append(range_nodes(lo, lo + k))
            lo, m = lo + k, m - k
    plan.reverse()
    return plan


def consistency_plan(size1: int, size2: int) -> Plan:
    """Which subtrees form the consistency proof from ``size1`` to ``size2`` (RFC 9162 PROOF).

    Requires 0 <= size1 <= size2. Empty when size1 is 0 or equals size2.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise IndexRangeError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == 0 or size1 == size2:
        return []
    plan: Plan = []
    lo, hi, m, complete = 0, size2, size1, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                plan.append(range_nodes(lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            plan.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            plan.append(range_nodes(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    plan.reverse()
    return plan


def plan_node_ids(plan: Plan) -> set[NodeId]:
    """Every subtree a plan needs, for one batched read."""
    return {node for element in plan for node in element}


def assemble(plan: Plan, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Build the proof from a plan and the hashes of the subtrees it names."""
    return [fold_right([nodes[n] for n in element]) for element in plan]


class NodeReader(Protocol):
    """Anything that can return perfect-subtree hashes of a tree (memory or storage)."""

    def read_nodes(self, ids: Iterable[NodeId]) -> Mapping[NodeId, bytes]: ...


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    plan = inclusion_plan(index, size)
    return assemble(plan, reader.read_nodes(plan_node_ids(plan)))


def consistency_proof(reader: NodeReader, size1: int, size2: int) -> list[bytes]:
    plan = consistency_plan(size1, size2)
    return assemble(plan, reader.read_nodes(plan_node_ids(plan)))


def root_at(reader: NodeReader, size: int) -> bytes:
    """MTH of the first ``size`` leaves (any historic size)."""
    _check_size(size, "tree size")
    if size == 0:
        return EMPTY_ROOT
    ids = range_nodes(0, size)
    found = reader.read_nodes(ids)
    return fold_right([found[n] for n in ids])


class MemoryTree:
    """An append-only in-memory tree keeping every perfect subtree hash.

    Append is O(1) amortized; any root or proof needs O(log n) lookups. Used by tests,
    benchmarks and offline tools; storage-backed logs keep the same nodes in a database.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf hash; return its index."""
        check_hash(leaf_hash, "leaf hash")
        index = len(self._levels[0])
        self._levels[0].append(leaf_hash)
        level, i, node = 0, index, leaf_hash
        while i & 1:
            node = hash_children(self._levels[level][i - 1], node)
            level, i = level + 1, i >> 1
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(node)
        return index

    def append(self, data: bytes) -> int:
        return self.append_leaf_hash(hash_leaf(data))

    def read_nodes(self, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        return {(level, i): self._levels[level][i] for level, i in ids}

    def leaf_hash(self, index: int) -> bytes:
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        return root_at(self, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_known(size)
        return inclusion_proof(self, index, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else size2
        self._check_known(size2)
        return consistency_proof(self, size1, size2)

    def _check_known(self, size: int) -> None:
        if size > self.size:
            raise IndexRangeError(f"tree size {size} is beyond the log's size {self.size}")


# --- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -------------------------------------------


_node_hasher = hashlib.sha256(NODE_PREFIX).copy
"""A fresh SHA-256 context that has absorbed the node prefix: ``h = _node_hasher();
h.update(left); h.update(right); h.digest()`` is ``hash_children(left, right)``, measured
~15% faster than hashing a concatenation (the hot loops of verification use it)."""
_ONLY_BYTES = frozenset({bytes})
_ONLY_HASH_SIZE = frozenset({HASH_SIZE})


def _check_path(path: Sequence[bytes]) -> None:
    # Two passes in C cover the usual case; the loop names the first bad element.
    if set(map(type, path)) <= _ONLY_BYTES and set(map(len, path)) <= _ONLY_HASH_SIZE:
        return
    for i, node in enumerate(path):
        if type(node) is not bytes or len(node) != HASH_SIZE:
            check_hash(node, f"proof hash [{i}]")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof. Requires 0 <= index < size."""
    # The checks of _check_size and check_hash, in their order, called only on a doubt.
    if type(index) is not int or type(size) is not int or index < 0 or size < 0:
        _check_size(index, "leaf index")
        _check_size(size, "tree size")
    if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE:
        leaf_hash = check_hash(leaf_hash, "leaf hash")
    _check_path(path)
    if index >= size:
        raise IndexRangeError(f"leaf index {index} is beyond tree size {size}")
    inner = (index ^ (size - 1)).bit_length()
    want = inner + bin(index >> inner).count("1")  # inclusion_proof_size, inlined
    if len(path) != want:
        raise ProofSizeError(len(path), want)
    # RFC 9162 §2.1.3.2 with the length checked: below the level where the paths of the
    # leaf and of the last leaf part (inner), the leaf's index bits say on which side each
    # proof hash goes; above it (the border) every proof hash is a left sibling. Bit k of
    # ``left`` is set when path[k] is a left sibling.
    left = index | (-1 << inner)
    node = _node_hasher
    r = leaf_hash
    for p in path:
        h = node()
        if left & 1:
            h.update(p)
            h.update(r)
        else:
            h.update(r)
            h.update(p)
        r = h.digest()
        left >>= 1
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``path`` proves ``leaf_hash`` at ``index`` in the tree ``(size, root)``."""
    if type(root) is not bytes or len(root) != HASH_SIZE:
        check_hash(root, "root hash")
    calculated = root_from_inclusion_proof(index, size, leaf_hash, path)
    if calculated != root:
        raise RootMismatchError(root, calculated)


def consistency_proof_size(size1: int, size2: int) -> int:
    """Number of hashes in the consistency proof from size1 to size2 (0 < size1 < size2)."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = bin((size1 - 1) >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1
    start = 0 if size1 == 1 << shift else 1
    return start + (inner - shift) + border


def verify_consistency(
    size1: int, size2: int, path: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise unless ``path`` proves the tree ``(size2, root2)`` extends ``(size1, root1)``."""
    # The checks of _check_size and check_hash, in their order, called only on a doubt.
    if type(size1) is not int or type(size2) is not int or size1 < 0 or size2 < 0:
        _check_size(size1, "size1")
        _check_size(size2, "size2")
    if type(root1) is not bytes or len(root1) != HASH_SIZE:
        root1 = check_hash(root1, "root1")
    if type(root2) is not bytes or len(root2) != HASH_SIZE:
        root2 = check_hash(root2, "root2")
    _check_path(path)
    if size1 > size2:
        raise IndexRangeError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == size2:
        if path:
            raise ProofSizeError(len(path), 0)
        if root1 != root2:
            raise RootMismatchError(root2, root1, "root2")
        return
    if size1 == 0:
        # Every tree extends the empty one. As transparency-dev/merkle does, root1 is not
        # compared with the empty-tree hash here (it must still be a 32-byte hash).
        if path:
            raise ProofSizeError(len(path), 0)
        return
    fr, sr = _consistency_roots(size1, size2, path, root1)
    if fr != root1:
        raise RootMismatchError(root1, fr, "root1")
    if sr != root2:
        raise RootMismatchError(root2, sr, "root2")


def consistency_roots(size1: int, size2: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """The two roots a consistency path implies, for ``0 < size1 < size2`` with ``size1``
    not a power of two (the path then starts with its seed hash): the roots that make
    ``path`` a valid proof, as ``root_from_inclusion_proof`` is for an inclusion path."""
    _check_path(path)
    if not 0 < size1 < size2 or size1 & (size1 - 1) == 0:
        raise IndexRangeError(f"want 0 < size1 < size2, size1 not a power of two: {size1}, {size2}")
    return _consistency_roots(size1, size2, path, b"")


def _consistency_roots(
    size1: int, size2: int, path: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    # RFC 9162 §2.1.4.2 from the level of size1's last perfect subtree (its trailing zero
    # bits are skipped), with consistency_proof_size inlined. That subtree's hash is the
    # seed: path[0], or root1 itself when size1 is a power of two (fn == 0).
    shift = (size1 & -size1).bit_length() - 1
    fn, sn = (size1 - 1) >> shift, (size2 - 1) >> shift
    inner = (fn ^ sn).bit_length()
    start = 1 if fn else 0
    want = start + inner + bin(fn >> inner).count("1")
    if len(path) != want:
        raise ProofSizeError(len(path), want)
    # As in the inclusion check: bit k of ``left`` is set when the k-th hash after the
    # seed is a left sibling; those extend both roots, the right ones only the second.
    left = fn | (-1 << inner)
    node = _node_hasher
    fr = sr = path[0] if start else root1
    for c in path[1:] if start else path:
        h = node()
        if left & 1:
            h.update(c)
            g = h.copy()
            h.update(fr)
            fr = h.digest()
            g.update(sr)
            sr = g.digest()
        else:
            h.update(sr)
            h.update(c)
            sr = h.digest()
        left >>= 1
    return fr, sr
