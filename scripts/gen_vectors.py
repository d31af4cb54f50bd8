"""Generate the proof-file test vectors under tests/vectors/.

    .venv/bin/python -m scripts.gen_vectors            # rewrite tests/vectors
    .venv/bin/python -m scripts.gen_vectors --check    # exit 1 if the files differ

Every vector is one JSON file named after the change it applies to a good proof (in the
style of transparency-dev/merkle's testdata): ``inclusion/<case>/<mutation>.json`` and
``consistency/<case>/<mutation>.json`` over the RFC 6962 reference tree of 8 leaves, plus
``<kind>/malformed/<name>.json`` for files that are not proofs at all. Each holds::

    {"desc": "...", "kind": "inclusion" | "consistency",
     "want_error": null | "<error class name>", "want_exit": 0 | 1 | 2,
     "proof": {...}}            # or "proof_text": "<the file's exact contents>"

The expected outcome is worked out here from the RFC's definitions (a naive proof length
and the order of checks: malformed input, then range, then length, then the root), not by
running the verifier; tests/test_cli_verify.py runs the verifier and the CLI on each.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.merkle import EMPTY_ROOT, MemoryTree

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors"

LEAVES = [
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
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
INCLUSION_CASES = [(0, 1), (0, 8), (5, 8), (2, 3), (1, 5), (6, 8), (2, 5)]
CONSISTENCY_CASES = [(1, 1), (0, 8), (1, 8), (6, 8), (2, 5), (6, 7), (4, 8)]

EXIT = {None: 0, "MalformedInputError": 2, "HashLengthError": 2}
"""Exit code per expected error; every other (verification) error exits 1."""


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_path_len(m: int, n: int) -> int:
    """len(PATH(m, D[n])), RFC 9162 §2.1.3.1."""
    if n == 1:
        return 0
    k = _k(n)
    return 1 + (naive_path_len(m, k) if m < k else naive_path_len(m - k, n - k))


def naive_proof_len(m: int, n: int, b: bool = True) -> int:
    """len(SUBPROOF(m, D[n], b)), RFC 9162 §2.1.4.1."""
    if m == n:
        return 0 if b else 1
    k = _k(n)
    return 1 + (naive_proof_len(m, k, b) if m <= k else naive_proof_len(m - k, n - k, False))


@dataclass(frozen=True)
class Vector:
    path: str
    desc: str
    kind: str
    want_error: str | None
    proof: dict[str, Any] | None = None
    proof_text: str | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "desc": self.desc,
            "kind": self.kind,
            "want_error": self.want_error,
            "want_exit": EXIT.get(self.want_error, 1),
        }
        if self.proof is not None:
            data["proof"] = self.proof
        else:
            data["proof_text"] = self.proof_text
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _bad_hash(*hashes: bytes) -> bool:
    return any(len(h) != 32 for h in hashes)


def inclusion_outcome(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> str:
    """The error a changed inclusion proof must raise (none of these changes can verify)."""
    if _bad_hash(leaf, root, *path):
        return "HashLengthError"
    if index < 0 or size < 0:
        return "MalformedInputError"
    if index >= size:
        return "IndexRangeError"
    if len(path) != naive_path_len(index, size):
        return "ProofSizeError"
    return "RootMismatchError"


def consistency_outcome(s1: int, s2: int, path: list[bytes], r1: bytes, r2: bytes) -> str:
    """The error a changed consistency proof must raise (none of these changes can verify)."""
    if _bad_hash(r1, r2, *path):
        return "HashLengthError"
    if s1 < 0 or s2 < 0:
        return "MalformedInputError"
    if s1 > s2:
        return "IndexRangeError"
    want = 0 if s1 in (0, s2) else naive_proof_len(s1, s2)
    if len(path) != want:
        return "ProofSizeError"
    return "RootMismatchError"


def _inclusion_dict(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> Any:
    return {
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": leaf.hex(),
        "root_hash": root.hex(),
        "path": [p.hex() for p in path],
    }


def _consistency_dict(s1: int, s2: int, path: list[bytes], r1: bytes, r2: bytes) -> Any:
    return {
        "size1": s1,
        "size2": s2,
        "root1": r1.hex(),
        "root2": r2.hex(),
        "path": [p.hex() for p in path],
    }


def _flip(h: bytes, mask: int) -> bytes:
    return bytes([h[0] ^ mask]) + h[1:]


def inclusion_vectors(tree: MemoryTree) -> Iterator[Vector]:
    for index, size in INCLUSION_CASES:
        case = f"inclusion/leaf-{index}-of-{size}"
        leaf, root = tree.leaf_hash(index), tree.root(size)
        path = tree.inclusion_proof(index, size)
        yield Vector(
            f"{case}/happy-path.json",
            f"leaf {index} of the {size}-leaf RFC 6962 test tree",
            "inclusion",
            None,
            _inclusion_dict(index, size, leaf, path, root),
        )
        changes: list[tuple[str, str, int, int, bytes, list[bytes], bytes]] = [
            ("leaf-index-minus-1", "leaf index - 1", index - 1, size, leaf, path, root),
            ("leaf-index-plus-1", "leaf index + 1", index + 1, size, leaf, path, root),
            ("leaf-index-xor-2", "leaf index ^ 2", index ^ 2, size, leaf, path, root),
            ("tree-size-times-2", "tree size * 2", index, size * 2, leaf, path, root),
            ("tree-size-div-2", "tree size / 2", index, size // 2, leaf, path, root),
            (
                "wrong-leaf",
                "hash of another leaf",
                index,
                size,
                tree.leaf_hash((index + 1) % 8),
                path,
                root,
            ),
            ("empty-root", "the empty tree's root", index, size, leaf, path, EMPTY_ROOT),
            ("random-root", "an arbitrary root", index, size, leaf, path, SOME_HASH),
            ("trailing-garbage", "an empty hash appended", index, size, leaf, [*path, b""], root),
            ("trailing-root", "the root appended", index, size, leaf, [*path, root], root),
            ("preceding-garbage", "an empty hash prepended", index, size, leaf, [b"", *path], root),
            ("preceding-root", "the root prepended", index, size, leaf, [root, *path], root),
            ("short-leaf-hash", "a 31-byte leaf hash", index, size, leaf[:31], path, root),
        ]
        for i in range(len(path)):
            flipped = [*path[:i], _flip(path[i], 8), *path[i + 1 :]]
            changes.append(
                (
                    f"modified-proof[{i}]-bit-@3",
                    f"bit 3 of proof[{i}] flipped",
                    index,
                    size,
                    leaf,
                    flipped,
                    root,
                )
            )
        if path:
            changes.append(
                ("removed-component", "last hash removed", index, size, leaf, path[:-1], root)
            )
        if len(path) > 1:
            inserted = [path[0], SOME_HASH, *path[1:]]
            changes.append(
                ("inserted-component", "a hash inserted", index, size, leaf, inserted, root)
            )
        for name, desc, i, n, lf, p, r in changes:
            yield Vector(
                f"{case}/{name}.json",
                f"leaf {index} of {size}: {desc}",
                "inclusion",
                inclusion_outcome(i, n, lf, p, r),
                _inclusion_dict(i, n, lf, p, r),
            )


def consistency_vectors(tree: MemoryTree) -> Iterator[Vector]:
    for size1, size2 in CONSISTENCY_CASES:
        case = f"consistency/{size1}-to-{size2}"
        r1, r2 = tree.root(size1), tree.root(size2)
        proof = tree.consistency_proof(size1, size2)
        yield Vector(
            f"{case}/happy-path.json",
            f"the {size2}-leaf RFC 6962 test tree extends its first {size1} leaves",
            "consistency",
            None,
            _consistency_dict(size1, size2, proof, r1, r2),
        )
        if not proof:
            continue
        changes: list[tuple[str, str, int, int, list[bytes], bytes, bytes]] = [
            ("size1-minus-1", "size1 - 1", size1 - 1, size2, proof, r1, r2),
            ("size1-plus-1", "size1 + 1", size1 + 1, size2, proof, r1, r2),
            ("size1-xor-2", "size1 ^ 2", size1 ^ 2, size2, proof, r1, r2),
            ("size2-times-2", "size2 * 2", size1, size2 * 2, proof, r1, r2),
            ("size2-div-2", "size2 / 2", size1, size2 // 2, proof, r1, r2),
            ("wrong-root1", "an arbitrary root1", size1, size2, proof, SOME_HASH, r2),
            ("wrong-root2", "an arbitrary root2", size1, size2, proof, r1, SOME_HASH),
            ("swapped-roots", "root1 and root2 swapped", size1, size2, proof, r2, r1),
            ("empty-proof", "no hashes", size1, size2, [], r1, r2),
            ("trailing-garbage", "an empty hash appended", size1, size2, [*proof, b""], r1, r2),
            ("trailing-root1", "root1 appended", size1, size2, [*proof, r1], r1, r2),
            ("trailing-root2", "root2 appended", size1, size2, [*proof, r2], r1, r2),
            ("preceding-garbage", "an empty hash prepended", size1, size2, [b"", *proof], r1, r2),
            ("preceding-root1", "root1 prepended", size1, size2, [r1, *proof], r1, r2),
            ("preceding-root2", "root2 prepended", size1, size2, [r2, *proof], r1, r2),
            ("preceding-proof[0]", "proof[0] repeated", size1, size2, [proof[0], *proof], r1, r2),
            ("truncated-proof", "last hash removed", size1, size2, proof[:-1], r1, r2),
        ]
        for i in range(len(proof)):
            flipped = [*proof[:i], _flip(proof[i], 16), *proof[i + 1 :]]
            changes.append(
                (
                    f"modified-proof[{i}]-bit-@4",
                    f"bit 4 of proof[{i}] flipped",
                    size1,
                    size2,
                    flipped,
                    r1,
                    r2,
                )
            )
        for name, desc, s1, s2, p, a, b in changes:
            yield Vector(
                f"{case}/{name}.json",
                f"{size1} to {size2}: {desc}",
                "consistency",
                consistency_outcome(s1, s2, p, a, b),
                _consistency_dict(s1, s2, p, a, b),
            )


def malformed_vectors(tree: MemoryTree) -> Iterator[Vector]:
    good_inc = _inclusion_dict(5, 8, tree.leaf_hash(5), tree.inclusion_proof(5, 8), tree.root(8))
    good_con = _consistency_dict(6, 8, tree.consistency_proof(6, 8), tree.root(6), tree.root(8))
    for kind, good in (("inclusion", good_inc), ("consistency", good_con)):
        int_field, hash_field = (
            ("leaf_index", "root_hash") if kind == "inclusion" else ("size1", "root2")
        )
        text = json.dumps(good)
        upper = {
            **good,
            hash_field: good[hash_field].upper(),
            "path": [p.upper() for p in good["path"]],
        }
        cases: list[tuple[str, str, str | None, dict[str, Any] | None, str | None]] = [
            ("uppercase-hex", "uppercase hex is accepted", None, upper, None),
            (
                "pretty-printed",
                "indentation and a trailing newline are fine",
                None,
                None,
                json.dumps(good, indent=4) + "\n",
            ),
            ("not-json", "not JSON at all", "MalformedInputError", None, "this is not a proof\n"),
            ("empty-file", "an empty file", "MalformedInputError", None, ""),
            (
                "trailing-bytes",
                "bytes after the JSON object",
                "MalformedInputError",
                None,
                text + "\ngarbage",
            ),
            ("not-an-object", "a JSON array", "MalformedInputError", None, "[]"),
            (
                "missing-field",
                f"no {int_field}",
                "MalformedInputError",
                {k: v for k, v in good.items() if k != int_field},
                None,
            ),
            (
                "extra-field",
                "an unknown field",
                "MalformedInputError",
                {**good, "comment": "hello"},
                None,
            ),
            (
                "duplicate-field",
                f"{int_field} twice",
                "MalformedInputError",
                None,
                text[:-1] + f', "{int_field}": 0}}',
            ),
            (
                "bool-as-int",
                f"{int_field} is true",
                "MalformedInputError",
                {**good, int_field: True},
                None,
            ),
            (
                "string-as-int",
                f"{int_field} is a string",
                "MalformedInputError",
                {**good, int_field: str(good[int_field])},
                None,
            ),
            (
                "negative",
                f"{int_field} is -1",
                "MalformedInputError",
                {**good, int_field: -1},
                None,
            ),
            (
                "float",
                f"{int_field} is a float",
                "MalformedInputError",
                None,
                text.replace(
                    f'"{int_field}": {good[int_field]}', f'"{int_field}": {good[int_field]}.0'
                ),
            ),
            (
                "beyond-uint64",
                f"{int_field} is 2^64",
                "MalformedInputError",
                {**good, int_field: 2**64},
                None,
            ),
            (
                "bad-hex",
                f"{hash_field} is not hex",
                "MalformedInputError",
                {**good, hash_field: "zz" * 32},
                None,
            ),
            (
                "0x-prefix",
                f"{hash_field} starts with 0x",
                "MalformedInputError",
                {**good, hash_field: "0x" + good[hash_field]},
                None,
            ),
            (
                "short-hash",
                f"{hash_field} has 31 bytes",
                "HashLengthError",
                {**good, hash_field: good[hash_field][:62]},
                None,
            ),
            (
                "long-hash",
                f"{hash_field} has 33 bytes",
                "HashLengthError",
                {**good, hash_field: good[hash_field] + "00"},
                None,
            ),
            (
                "path-not-a-list",
                "path is a string",
                "MalformedInputError",
                {**good, "path": good["path"][0]},
                None,
            ),
            (
                "hash-as-number",
                "a path element is a number",
                "MalformedInputError",
                {**good, "path": [7]},
                None,
            ),
        ]
        for name, desc, error, proof, proof_text in cases:
            yield Vector(
                f"{kind}/malformed/{name}.json",
                f"{kind} file: {desc}",
                kind,
                error,
                proof,
                proof_text,
            )
    yield Vector(
        "inclusion/malformed/consistency-file.json",
        "a consistency proof given where an inclusion proof is expected",
        "inclusion",
        "MalformedInputError",
        good_con,
    )


def all_vectors() -> list[Vector]:
    tree = MemoryTree()
    for leaf in LEAVES:
        tree.append(leaf)
    return [*inclusion_vectors(tree), *consistency_vectors(tree), *malformed_vectors(tree)]


def generate() -> dict[str, str]:
    """Relative path -> file contents, for every vector."""
    files: dict[str, str] = {}
    for vector in all_vectors():
        if vector.path in files:
            raise ValueError(f"two vectors named {vector.path}")
        files[vector.path] = vector.to_json()
    return files


def existing(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for sub in ("inclusion", "consistency")
        for p in sorted((out / sub).rglob("*.json"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the proof-file test vectors.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="vector directory")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if different")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        same = existing(args.out) == files
        print("vectors are up to date" if same else "vectors differ: run scripts/gen_vectors.py")
        return 0 if same else 1
    for rel in existing(args.out):
        if rel not in files:
            (args.out / rel).unlink()
    for rel, text in files.items():
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} vectors under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
