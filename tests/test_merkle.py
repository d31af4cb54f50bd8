"""RFC 9162 Merkle tree: ledger.merkle against a naive reference, known answers, and
every malformed or tampered input.

The reference below is RFC 9162 §2.1.1-2.1.4 written out literally (MTH, PATH, PROOF,
SUBPROOF), recursive and slow; it shares no code with ledger.merkle.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from functools import cache, partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import (
    HashLengthError,
    IndexRangeError,
    MalformedInputError,
    ProofSizeError,
    RootMismatchError,
    VerificationError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_plan,
    consistency_proof_size,
    consistency_roots,
    hash_children,
    hash_leaf,
    inclusion_plan,
    inclusion_proof_size,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --- the naive reference (RFC 9162 §2.1) ----------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """MTH, PATH and PROOF over a fixed list of leaf inputs, as RFC 9162 defines them."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves

        @cache
        def mth(lo: int, hi: int) -> bytes:
            n = hi - lo
            if n == 0:
                return _sha256(b"")
            if n == 1:
                return _sha256(b"\x00" + self.leaves[lo])
            k = _k(n)
            return _sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))

        self._mth = mth

    def root(self, size: int) -> bytes:
        return self._mth(0, size)

    def leaf_hash(self, index: int) -> bytes:
        return self._mth(index, index + 1)

    def path(self, m: int, size: int) -> list[bytes]:
        def go(m: int, lo: int, hi: int) -> list[bytes]:
            n = hi - lo
            if n == 1:
                return []
            k = _k(n)
            if m < k:
                return [*go(m, lo, lo + k), self._mth(lo + k, hi)]
            return [*go(m - k, lo + k, hi), self._mth(lo, lo + k)]

        return go(m, 0, size)

    def proof(self, m: int, size: int) -> list[bytes]:
        def sub(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
            n = hi - lo
            if m == n:
                return [] if b else [self._mth(lo, hi)]
            k = _k(n)
            if m <= k:
                return [*sub(m, lo, lo + k, b), self._mth(lo + k, hi)]
            return [*sub(m - k, lo + k, hi, False), self._mth(lo, lo + k)]

        if m == 0 or m == size:
            return []
        return sub(m, 0, size, True)


def ref_root_from_path(m: int, n: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """Invert PATH: the root that ``path`` implies for leaf m of a tree of n leaves.

    Requires len(path) == len(PATH(m, n)). PATH lists the innermost sibling first.
    """
    if n == 1:
        assert not path
        return leaf_hash
    k = _k(n)
    *inner, sibling = path
    if m < k:
        return _sha256(b"\x01" + ref_root_from_path(m, k, leaf_hash, inner) + sibling)
    return _sha256(b"\x01" + sibling + ref_root_from_path(m - k, n - k, leaf_hash, inner))


def ref_roots_from_proof(m: int, n: int, proof: list[bytes], root1: bytes) -> tuple[bytes, bytes]:
    """Invert SUBPROOF: the (old root, new root) that a consistency proof implies.

    Requires 0 < m < n and len(proof) == len(PROOF(m, n)).
    """

    def sub(m: int, n: int, proof: list[bytes], b: bool) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                assert not proof
                return root1, root1
            (node,) = proof
            return node, node
        k = _k(n)
        *inner, node = proof
        if m <= k:
            old, new_left = sub(m, k, inner, b)
            return old, _sha256(b"\x01" + new_left + node)
        old_right, new_right = sub(m - k, n - k, inner, False)
        return _sha256(b"\x01" + node + old_right), _sha256(b"\x01" + node + new_right)

    return sub(m, n, proof, True)


def leaves_for(n: int, salt: str = "") -> list[bytes]:
    return [f"{salt}leaf-{i}".encode() for i in range(n)]


def tree_of(leaves: list[bytes]) -> MemoryTree:
    tree = MemoryTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree


# --- expected errors, derived from the reference (not from the code under test) --------------


def _bad_length(*hashes: bytes) -> bool:
    return any(len(h) != 32 for h in hashes)


def expected_inclusion_error(
    index: int, size: int, leaf: bytes, path: list[bytes], root: bytes
) -> type[Exception] | None:
    if _bad_length(leaf, root, *path):
        return HashLengthError
    if index < 0 or size < 0:
        return MalformedInputError
    if index >= size:
        return IndexRangeError
    ref = Reference(leaves_for(size))  # only the shape matters for the length
    if len(path) != len(ref.path(index, size)):
        return ProofSizeError
    # Some changed claims are still true of the same hashes: a leaf of a 3-leaf tree has
    # the same path and root as the same leaf of a 4-leaf tree whose last two leaves hash
    # to the third. Only the root, checked elsewhere against a signed size, binds the size.
    if ref_root_from_path(index, size, leaf, path) == root:
        return None
    return RootMismatchError


def expected_consistency_error(
    size1: int, size2: int, path: list[bytes], root1: bytes, root2: bytes
) -> type[Exception] | None:
    if _bad_length(root1, root2, *path):
        return HashLengthError
    if size1 < 0 or size2 < 0:
        return MalformedInputError
    if size1 > size2:
        return IndexRangeError
    want = 0 if size1 in (0, size2) else len(Reference(leaves_for(size2)).proof(size1, size2))
    if len(path) != want:
        return ProofSizeError
    if size1 == 0:
        return None if root1 == EMPTY_ROOT else RootMismatchError
    if size1 == size2:
        return None if root1 == root2 else RootMismatchError
    if ref_roots_from_proof(size1, size2, path, root1) == (root1, root2):
        return None
    return RootMismatchError


def assert_outcome(expected: type[Exception] | None, fn: Callable[[], object]) -> None:
    """``fn`` raises exactly ``expected``, or succeeds when ``expected`` is None."""
    if expected is None:
        fn()
    else:
        assert_raises_exactly(expected, fn)


def assert_raises_exactly(expected: type[Exception], fn: Callable[[], object]) -> Exception:
    with pytest.raises(Exception) as info:
        fn()
    assert type(info.value) is expected, f"raised {type(info.value).__name__}: {info.value}"
    return info.value


# --- the reference agrees with the fast code over every small tree ---------------------------

ALL_SMALL = 64


@pytest.fixture(scope="module")
def small() -> tuple[Reference, MemoryTree]:
    leaves = leaves_for(ALL_SMALL)
    return Reference(leaves), tree_of(leaves)


def test_roots_of_every_size_match_the_reference(small: tuple[Reference, MemoryTree]) -> None:
    ref, tree = small
    leaf_hashes = [hash_leaf(x) for x in ref.leaves]
    for size in range(ALL_SMALL + 1):
        want = ref.root(size)
        assert tree.root(size) == want
        assert root_from_leaf_hashes(leaf_hashes[:size]) == want


def test_every_inclusion_proof_up_to_64_matches_and_verifies(
    small: tuple[Reference, MemoryTree],
) -> None:
    ref, tree = small
    for size in range(1, ALL_SMALL + 1):
        root = ref.root(size)
        for index in range(size):
            want = ref.path(index, size)
            got = tree.inclusion_proof(index, size)
            assert got == want, (index, size)
            assert inclusion_proof_size(index, size) == len(want)
            assert len(inclusion_plan(index, size)) == len(want)
            verify_inclusion(index, size, ref.leaf_hash(index), got, root)
            assert ref_root_from_path(index, size, ref.leaf_hash(index), want) == root
            assert root_from_inclusion_proof(index, size, ref.leaf_hash(index), got) == root


def test_every_consistency_proof_up_to_64_matches_and_verifies(
    small: tuple[Reference, MemoryTree],
) -> None:
    ref, tree = small
    for size2 in range(ALL_SMALL + 1):
        root2 = ref.root(size2)
        for size1 in range(size2 + 1):
            want = ref.proof(size1, size2)
            got = tree.consistency_proof(size1, size2)
            assert got == want, (size1, size2)
            assert len(consistency_plan(size1, size2)) == len(want)
            if 0 < size1 < size2:
                assert consistency_proof_size(size1, size2) == len(want)
                assert ref_roots_from_proof(size1, size2, want, ref.root(size1)) == (
                    ref.root(size1),
                    root2,
                )
            verify_consistency(size1, size2, got, ref.root(size1), root2)


def test_random_larger_trees_match_the_reference() -> None:
    rng = random.Random(9162)
    leaves = leaves_for(3000, "big-")
    ref, tree = Reference(leaves), tree_of(leaves)
    for _ in range(150):
        size = rng.randint(65, len(leaves))
        index = rng.randrange(size)
        size1 = rng.randint(1, size)
        assert tree.root(size) == ref.root(size)
        path = tree.inclusion_proof(index, size)
        assert path == ref.path(index, size)
        verify_inclusion(index, size, ref.leaf_hash(index), path, ref.root(size))
        proof = tree.consistency_proof(size1, size)
        assert proof == ref.proof(size1, size)
        verify_consistency(size1, size, proof, ref.root(size1), ref.root(size))


def test_proof_sizes_at_the_edges_of_uint64() -> None:
    big = 2**64 - 1
    assert inclusion_proof_size(0, big) == 64
    assert inclusion_proof_size(big - 1, big) == len(inclusion_plan(big - 1, big))
    assert consistency_proof_size(2**63, big) == len(consistency_plan(2**63, big))
    assert consistency_proof_size(big - 1, big) == len(consistency_plan(big - 1, big))


# --- known answers: RFC 6962 test tree (transparency-dev/merkle, certificate-transparency-go) -

KAT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

KAT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

KAT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

_N = KAT_NODES
# (leaf index, tree size, path): verify_test.go and testonly/reference_test.go.
KAT_INCLUSION = [
    (0, 1, []),
    (0, 2, [_N[0][1]]),
    (1, 2, [_N[0][0]]),
    (2, 3, [_N[1][0]]),
    (1, 5, [_N[0][0], _N[1][1], _N[0][4]]),
    (0, 8, [_N[0][1], _N[1][1], _N[2][1]]),
    (5, 8, [_N[0][4], _N[1][3], _N[2][0]]),
    (2, 5, [_N[0][3], _N[1][0], _N[0][4]]),  # "{3, 5}" in verify_test.go is 1-based
    (6, 8, [_N[0][7], _N[1][2], _N[2][0]]),  # "{7, 8}" likewise
]
# (size1, size2, proof)
KAT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [_N[0][1], _N[1][1], _N[2][1]]),
    (6, 8, [_N[1][2], _N[1][3], _N[2][0]]),
    (2, 5, [_N[1][1], _N[0][4]]),
    (6, 7, [_N[1][2], _N[0][6], _N[2][0]]),
]


def _hx(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_known_roots_and_nodes_of_the_rfc6962_test_tree() -> None:
    tree = tree_of(KAT_LEAVES)
    for size, root in enumerate(KAT_ROOTS):
        assert tree.root(size).hex() == root
    assert EMPTY_ROOT.hex() == KAT_ROOTS[0]
    for level, row in enumerate(KAT_NODES):
        got = tree.read_nodes([(level, i) for i in range(len(row))])
        assert [got[(level, i)].hex() for i in range(len(row))] == row
    assert hash_children(bytes.fromhex(_N[0][0]), bytes.fromhex(_N[0][1])).hex() == _N[1][0]


def test_the_reference_reproduces_the_known_answers() -> None:
    ref = Reference(KAT_LEAVES)
    assert [ref.root(n).hex() for n in range(9)] == KAT_ROOTS
    for index, size, path in KAT_INCLUSION:
        assert [h.hex() for h in ref.path(index, size)] == path
    for size1, size2, proof in KAT_CONSISTENCY:
        assert [h.hex() for h in ref.proof(size1, size2)] == proof


@pytest.mark.parametrize(("index", "size", "path"), KAT_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    tree = tree_of(KAT_LEAVES)
    assert [h.hex() for h in tree.inclusion_proof(index, size)] == path
    verify_inclusion(
        index, size, hash_leaf(KAT_LEAVES[index]), _hx(path), _hx([KAT_ROOTS[size]])[0]
    )


@pytest.mark.parametrize(("size1", "size2", "proof"), KAT_CONSISTENCY)
def test_known_consistency_proofs(size1: int, size2: int, proof: list[str]) -> None:
    tree = tree_of(KAT_LEAVES)
    assert [h.hex() for h in tree.consistency_proof(size1, size2)] == proof
    root1, root2 = _hx([KAT_ROOTS[size1], KAT_ROOTS[size2]])
    verify_consistency(size1, size2, _hx(proof), root1, root2)


# --- transparency-dev's corruption probes, each with the named error it must raise ------------

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def inclusion_probes(
    index: int, size: int, path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """(desc, index, size, leaf, path, root) for every mutation of a good proof."""
    probes = [
        ("leaf index - 1", index - 1, size, leaf, path, root),
        ("leaf index + 1", index + 1, size, leaf, path, root),
        ("leaf index ^ 2", index ^ 2, size, leaf, path, root),
        ("tree size * 2", index, size * 2, leaf, path, root),
        ("tree size / 2", index, size // 2, leaf, path, root),
        ("wrong leaf", index, size, b"WrongLeaf", path, root),
        ("wrong leaf hash", index, size, _sha256(b"WrongLeaf"), path, root),
        ("empty root", index, size, leaf, path, EMPTY_ROOT),
        ("random root", index, size, leaf, path, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*path, b""], root),
        ("trailing root", index, size, leaf, [*path, root], root),
        ("preceding garbage", index, size, leaf, [b"", *path], root),
        ("preceding root", index, size, leaf, [root, *path], root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([path[i][0] ^ 8]) + path[i][1:]
        probes.append((f"modified proof[{i}] bit 3", index, size, leaf, flipped, root))
    if path:
        probes.append(("removed component", index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append(
            ("inserted component", index, size, leaf, [path[0], SOME_HASH, *path[1:]], root)
        )
    return probes


def consistency_probes(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """(desc, size1, size2, proof, root1, root2) for every mutation of a good proof."""
    probes = [
        ("size1 - 1", size1 - 1, size2, proof, root1, root2),
        ("size1 + 1", size1 + 1, size2, proof, root1, root2),
        ("size1 ^ 2", size1 ^ 2, size2, proof, root1, root2),
        ("size2 * 2", size1, size2 * 2, proof, root1, root2),
        ("size2 / 2", size1, size2 // 2, proof, root1, root2),
        ("wrong root1", size1, size2, proof, b"WrongRoot", root2),
        ("wrong root2", size1, size2, proof, root1, b"WrongRoot"),
        ("random root1", size1, size2, proof, SOME_HASH, root2),
        ("random root2", size1, size2, proof, root1, SOME_HASH),
        ("swapped roots", size1, size2, proof, root2, root1),
        ("empty proof", size1, size2, [], root1, root2),
        ("trailing garbage", size1, size2, [*proof, b""], root1, root2),
        ("trailing root1", size1, size2, [*proof, root1], root1, root2),
        ("trailing root2", size1, size2, [*proof, root2], root1, root2),
        ("preceding garbage", size1, size2, [b"", *proof], root1, root2),
        ("preceding root1", size1, size2, [root1, *proof], root1, root2),
        ("preceding root2", size1, size2, [root2, *proof], root1, root2),
        ("preceding proof[0]", size1, size2, [proof[0], *proof], root1, root2),
        ("truncated proof", size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((f"modified proof[{i}] bit 4", size1, size2, flipped, root1, root2))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), [v for v in KAT_INCLUSION if v[1] > 1])
def test_every_corrupted_known_inclusion_proof_fails_with_the_right_error(
    index: int, size: int, path: list[str]
) -> None:
    root, leaf = bytes.fromhex(KAT_ROOTS[size]), hash_leaf(KAT_LEAVES[index])
    for desc, i, n, lf, p, r in inclusion_probes(index, size, _hx(path), root, leaf):
        expected = expected_inclusion_error(i, n, lf, p, r)
        assert expected is not None
        err = assert_raises_exactly(expected, partial(verify_inclusion, i, n, lf, p, r))
        assert str(err), desc


@pytest.mark.parametrize(("size1", "size2", "proof"), [v for v in KAT_CONSISTENCY if v[2]])
def test_every_corrupted_known_consistency_proof_fails_with_the_right_error(
    size1: int, size2: int, proof: list[str]
) -> None:
    root1, root2 = bytes.fromhex(KAT_ROOTS[size1]), bytes.fromhex(KAT_ROOTS[size2])
    for desc, s1, s2, p, r1, r2 in consistency_probes(size1, size2, root1, root2, _hx(proof)):
        expected = expected_consistency_error(s1, s2, p, r1, r2)
        assert expected is not None
        err = assert_raises_exactly(expected, partial(verify_consistency, s1, s2, p, r1, r2))
        assert str(err), desc


def test_single_entry_tree_edge_cases() -> None:
    """verify_test.go TestVerifyInclusionSingleEntry, with our named errors."""
    h = hash_leaf(b"data")
    verify_inclusion(0, 1, h, [], h)
    assert_raises_exactly(HashLengthError, lambda: verify_inclusion(0, 1, b"", [], h))
    assert_raises_exactly(HashLengthError, lambda: verify_inclusion(0, 1, h, [], b""))
    assert_raises_exactly(HashLengthError, lambda: verify_inclusion(0, 1, b"", [], b""))


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_probes_with_empty_proofs(index: int, size: int) -> None:
    """verify_test.go TestVerifyInclusion: none of these may verify."""
    assert_raises_exactly(
        HashLengthError, lambda: verify_inclusion(index, size, SOME_HASH, [], b"")
    )
    assert_raises_exactly(
        HashLengthError, lambda: verify_inclusion(index, size, b"", [], EMPTY_ROOT)
    )
    want = IndexRangeError if index >= size else RootMismatchError
    err = assert_raises_exactly(
        want, lambda: verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    )
    if isinstance(err, RootMismatchError):
        assert err.expected == EMPTY_ROOT and err.calculated == SOME_HASH


def test_consistency_special_sizes() -> None:
    """verify_test.go TestVerifyConsistency, adapted: every hash must be 32 bytes here; as in
    Go, any root1 at size 0 is consistent with any tree (every tree extends the empty one)."""
    r1, r2 = _sha256(b"don't care 1"), _sha256(b"don't care 2")
    verify_consistency(0, 0, [], r1, r1)
    verify_consistency(1, 1, [], r2, r2)
    verify_consistency(0, 1, [], EMPTY_ROOT, r2)
    assert_raises_exactly(RootMismatchError, lambda: verify_consistency(0, 0, [], r1, r2))
    assert_raises_exactly(RootMismatchError, lambda: verify_consistency(1, 1, [], r1, r2))
    verify_consistency(0, 1, [], r1, r2)
    assert_raises_exactly(IndexRangeError, lambda: verify_consistency(1, 0, [], r1, r2))
    assert_raises_exactly(IndexRangeError, lambda: verify_consistency(2, 1, [], r1, r2))
    assert_raises_exactly(ProofSizeError, lambda: verify_consistency(1, 2, [], r1, r2))
    for s1, s2 in [(0, 0), (0, 1), (1, 1)]:
        assert_raises_exactly(
            ProofSizeError,
            lambda s1=s1, s2=s2: verify_consistency(s1, s2, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT),
        )
    assert_raises_exactly(HashLengthError, lambda: verify_consistency(0, 0, [], b"x", b"x"))


# --- malformed arguments: never a raw ValueError/TypeError/IndexError --------------------------


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1", None])
def test_bad_integers_are_malformed_input(bad: object) -> None:
    h = hash_leaf(b"x")
    calls: list[Callable[[], object]] = [
        lambda: verify_inclusion(bad, 1, h, [], h),  # type: ignore[arg-type]
        lambda: verify_inclusion(0, bad, h, [], h),  # type: ignore[arg-type]
        lambda: verify_consistency(bad, 1, [], h, h),  # type: ignore[arg-type]
        lambda: verify_consistency(1, bad, [], h, h),  # type: ignore[arg-type]
        lambda: inclusion_plan(bad, 4),  # type: ignore[arg-type]
        lambda: consistency_plan(1, bad),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(MalformedInputError):
            call()


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_every_hash_that_is_not_32_bytes_is_refused(length: int) -> None:
    leaves = leaves_for(5)
    tree = tree_of(leaves)
    good_path, root, leaf = tree.inclusion_proof(2, 5), tree.root(5), hash_leaf(leaves[2])
    bad = bytes(length)
    cases: list[Callable[[], object]] = [
        lambda: verify_inclusion(2, 5, bad, good_path, root),
        lambda: verify_inclusion(2, 5, leaf, good_path, bad),
        lambda: verify_inclusion(2, 5, leaf, [bad, *good_path[1:]], root),
        lambda: verify_consistency(
            2, 5, [bad, *tree.consistency_proof(2, 5)[1:]], tree.root(2), root
        ),
        lambda: verify_consistency(2, 5, tree.consistency_proof(2, 5), bad, root),
        lambda: verify_consistency(2, 5, tree.consistency_proof(2, 5), tree.root(2), bad),
        lambda: MemoryTree().append_leaf_hash(bad),
    ]
    for call in cases:
        err = assert_raises_exactly(HashLengthError, call)
        assert isinstance(err, HashLengthError) and err.got == length and err.want == 32
        assert f"{length} bytes, want 32" in str(err)


def test_non_bytes_hashes_are_malformed_input() -> None:
    h = hash_leaf(b"x")
    with pytest.raises(MalformedInputError, match="must be bytes"):
        verify_inclusion(0, 1, h.hex(), [], h)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="must be bytes"):
        verify_inclusion(0, 2, h, [None], h)  # type: ignore[list-item]


def test_bytes_like_hashes_verify_and_bad_elements_are_named_by_position() -> None:
    tree = tree_of(leaves_for(11))
    path, root, leaf = tree.inclusion_proof(6, 11), tree.root(11), tree.leaf_hash(6)
    cpath, root1 = tree.consistency_proof(6, 11), tree.root(6)
    # bytearray is accepted wherever bytes are (the quick checks only look for bytes).
    assert root_from_inclusion_proof(6, 11, bytearray(leaf), [bytearray(p) for p in path]) == root
    verify_inclusion(6, 11, leaf, [*path[:2], bytearray(path[2]), *path[3:]], bytearray(root))
    verify_consistency(6, 11, [bytearray(p) for p in cpath], bytearray(root1), bytearray(root))
    for position in range(len(path)):
        for bad in (path[position][:31], memoryview(path[position]), path[position].hex()):
            broken = [*path[:position], bad, *path[position + 1 :]]
            with pytest.raises(MalformedInputError, match=rf"proof hash \[{position}\]"):
                verify_inclusion(6, 11, leaf, broken, root)
            broken = [*cpath[:position], bad, *cpath[position + 1 :]][: len(cpath)]
            if position < len(cpath):
                with pytest.raises(MalformedInputError, match=rf"proof hash \[{position}\]"):
                    verify_consistency(6, 11, broken, root1, root)
    # The first failed check wins, in the order of the checks: root, then index, size,
    # leaf hash, path (inclusion); sizes, roots, path (consistency).
    with pytest.raises(MalformedInputError, match="leaf index"):
        verify_inclusion(True, 11, b"", path, root)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="size2"):
        verify_consistency(6, -1, [b""], b"", b"")
    with pytest.raises(HashLengthError, match="root1"):
        verify_consistency(6, 11, [b""], b"", b"")


def test_out_of_range_requests_to_the_tree_are_named() -> None:
    tree = tree_of(leaves_for(4))
    with pytest.raises(IndexRangeError, match="beyond tree size"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(IndexRangeError, match="beyond the log's size"):
        tree.inclusion_proof(0, 5)
    with pytest.raises(IndexRangeError, match="greater than size2"):
        tree.consistency_proof(3, 2)
    with pytest.raises(IndexRangeError, match="beyond the log's size"):
        tree.consistency_proof(1, 9)


def test_errors_carry_both_sides() -> None:
    tree = tree_of(leaves_for(6))
    path, root = tree.inclusion_proof(3, 6), tree.root(6)
    err = assert_raises_exactly(
        ProofSizeError, lambda: verify_inclusion(3, 6, tree.leaf_hash(3), path[:-1], root)
    )
    assert isinstance(err, ProofSizeError)
    assert (err.got, err.want) == (len(path) - 1, len(path))
    assert str(err) == f"wrong proof size {len(path) - 1}, want {len(path)}"
    err = assert_raises_exactly(
        RootMismatchError, lambda: verify_inclusion(3, 6, tree.leaf_hash(2), path, root)
    )
    assert isinstance(err, RootMismatchError)
    assert err.expected == root and err.calculated != root
    assert root.hex() in str(err) and err.calculated.hex() in str(err)
    assert issubclass(RootMismatchError, VerificationError)
    assert issubclass(HashLengthError, MalformedInputError)


# --- property tests ---------------------------------------------------------------------------

_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_BIG = tree_of(leaves_for(700, "prop-"))
_BIG_REF = Reference(leaves_for(700, "prop-"))


@st.composite
def inclusion_case(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, _BIG.size))
    return draw(st.integers(0, size - 1)), size


@st.composite
def consistency_case(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(2, _BIG.size))
    return draw(st.integers(1, size2 - 1)), size2


@_PROPERTY
@given(inclusion_case())
def test_property_inclusion_proofs_verify(case: tuple[int, int]) -> None:
    index, size = case
    path = _BIG.inclusion_proof(index, size)
    assert path == _BIG_REF.path(index, size)
    verify_inclusion(index, size, _BIG.leaf_hash(index), path, _BIG.root(size))


@_PROPERTY
@given(inclusion_case(), st.data())
def test_property_any_bit_flip_in_an_inclusion_proof_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    path, leaf, root = _BIG.inclusion_proof(index, size), _BIG.leaf_hash(index), _BIG.root(size)
    targets = ["leaf", "root"] + [f"path{i}" for i in range(len(path))]
    target = data.draw(st.sampled_from(targets))
    bit = data.draw(st.integers(0, 255))

    def flip(h: bytes) -> bytes:
        b = bytearray(h)
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    if target == "leaf":
        leaf = flip(leaf)
    elif target == "root":
        root = flip(root)
    else:
        i = int(target[4:])
        path = [*path[:i], flip(path[i]), *path[i + 1 :]]
    assert_raises_exactly(
        RootMismatchError, lambda: verify_inclusion(index, size, leaf, path, root)
    )


@_PROPERTY
@given(
    inclusion_case(), st.sampled_from(["index-1", "index+1", "size-1", "size+1", "drop", "extra"])
)
def test_property_off_by_one_and_wrong_length_fail_with_the_right_error(
    case: tuple[int, int], mutation: str
) -> None:
    index, size = case
    path, leaf, root = _BIG.inclusion_proof(index, size), _BIG.leaf_hash(index), _BIG.root(size)
    if mutation == "index-1":
        index -= 1
    elif mutation == "index+1":
        index += 1
    elif mutation == "size-1":
        size -= 1
    elif mutation == "size+1":
        size += 1
    elif mutation == "drop":
        if not path:
            return
        path = path[:-1]
    else:
        path = [*path, SOME_HASH]
    expected = expected_inclusion_error(index, size, leaf, path, root)
    if mutation in ("index-1", "index+1", "drop", "extra"):
        assert expected is not None  # these can never verify
    assert_outcome(expected, lambda: verify_inclusion(index, size, leaf, path, root))


@_PROPERTY
@given(consistency_case(), st.data())
def test_property_consistency_proofs_verify_and_any_change_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = case
    proof, root1, root2 = _BIG.consistency_proof(size1, size2), _BIG.root(size1), _BIG.root(size2)
    assert proof == _BIG_REF.proof(size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)
    mutation = data.draw(
        st.sampled_from(
            ["flip", "root1", "root2", "size1-1", "size1+1", "size2+1", "drop", "extra"]
        )
    )
    if mutation == "flip":
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        b = bytearray(proof[i])
        b[bit // 8] ^= 1 << (bit % 8)
        proof = [*proof[:i], bytes(b), *proof[i + 1 :]]
    elif mutation == "root1":
        root1 = _sha256(root1)
    elif mutation == "root2":
        root2 = _sha256(root2)
    elif mutation == "size1-1":
        size1 -= 1
    elif mutation == "size1+1":
        size1 += 1
    elif mutation == "size2+1":
        size2 += 1
    elif mutation == "drop":
        proof = proof[:-1]
    else:
        proof = [*proof, SOME_HASH]
    expected = expected_consistency_error(size1, size2, proof, root1, root2)
    if mutation in ("flip", "root1", "root2", "drop", "extra"):
        assert expected is not None  # these can never verify
    assert_outcome(expected, lambda: verify_consistency(size1, size2, proof, root1, root2))


def test_merkle_module_exports_what_others_use() -> None:
    for name in ["inclusion_proof", "consistency_proof", "root_at", "assemble", "plan_node_ids"]:
        assert callable(getattr(merkle, name))


# --- interoperability: pymerkle 7.0.0, an independent RFC 9162 implementation ---------------


def test_pymerkle_agrees_on_roots_and_inclusion_paths() -> None:
    import warnings

    from pymerkle import InmemoryTree

    warnings.simplefilter("ignore", DeprecationWarning)
    peer = InmemoryTree(algorithm="sha256")  # security=True: the 0x00 / 0x01 prefixes
    ours = MemoryTree()
    rng = random.Random(6962)
    for n in range(1, 301):
        data = f"entry {n}".encode()
        peer.append_entry(data)
        ours.append(data)
        assert peer.get_state(n) == ours.root(n)
        index = rng.randrange(n)
        # pymerkle's path starts with the leaf hash, then the RFC 9162 path (1-based index).
        theirs = [bytes.fromhex(h) for h in peer.prove_inclusion(index + 1, n).serialize()["path"]]
        assert theirs[0] == ours.leaf_hash(index)
        assert theirs[1:] == ours.inclusion_proof(index, n)
        verify_inclusion(index, n, theirs[0], theirs[1:], peer.get_state(n))


def test_consistency_roots_are_the_roots_a_real_proof_leads_to() -> None:
    tree = MemoryTree()
    for i in range(300):
        tree.append(i.to_bytes(2, "big"))
    for size1, size2 in ((3, 8), (5, 300), (127, 129), (299, 300)):
        path = tree.consistency_proof(size1, size2)
        assert consistency_roots(size1, size2, path) == (tree.root(size1), tree.root(size2))
    with pytest.raises(ProofSizeError):
        consistency_roots(5, 300, tree.consistency_proof(5, 300)[:-1])
    for size1, size2 in ((4, 8), (0, 8), (9, 8)):  # a power of two has no seed in its path
        with pytest.raises(IndexRangeError):
            consistency_roots(size1, size2, [])
