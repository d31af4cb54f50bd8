"""What the auditor's side costs: proof files, signed checkpoints, the ``lotproof verify`` CLI.

    .venv/bin/python scripts/bench_verify.py [--leaves 1048576] [--files 2000] [--json]

Every figure is a median over repeats and comes with a yardstick measured in the same run:
- proof file parse + verify vs the bare RFC 9162 verification of the same proof
  (ledger.merkle) and vs pymerkle 7.0.0 (deserialize + verify of its own proof, same tree);
- checkpoint open (parse the note, parse the body, Ed25519) vs one bare PyNaCl verify of
  the same bytes; checkpoint sign vs one bare PyNaCl sign;
- the CLI in process (files/s) vs the library loop over the same files;
- the CLI as a process vs ``python -c pass`` (interpreter start-up).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing

from ledger.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from ledger.merkle import MemoryTree, verify_consistency, verify_inclusion
from ledger.proofs import ConsistencyProof, InclusionProof
from scripts.cli import main as cli_main


def per_op_us(fn: Callable[[], object], n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean time of ``n`` calls, in microseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(times)


def cycle(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def next_item() -> Any:
        i = state["i"]
        state["i"] = (i + 1) % len(items)
        return items[i]

    return next_item


def bench_proofs(leaves: int, samples: int, rng: random.Random) -> dict[str, Any]:
    tree = MemoryTree()
    start = time.perf_counter()
    for i in range(leaves):
        tree.append(i.to_bytes(8, "big"))
    build_s = time.perf_counter() - start
    size = tree.size
    inc = [InclusionProof.build(tree, rng.randrange(size), size) for _ in range(samples)]
    con = [ConsistencyProof.build(tree, rng.randrange(1, size), size) for _ in range(samples)]
    inc_json = [p.to_json() for p in inc]
    con_json = [p.to_json() for p in con]
    ni, nc, nij, ncj = cycle(inc), cycle(con), cycle(inc_json), cycle(con_json)

    def raw_inclusion() -> None:
        p = ni()
        verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.path, p.root_hash)

    def raw_consistency() -> None:
        p = nc()
        verify_consistency(p.size1, p.size2, p.path, p.root1, p.root2)

    n = samples * 4
    fig: dict[str, Any] = {
        "tree_leaves": size,
        "tree_build_s": round(build_s, 2),
        "inclusion_path_hashes_mean": round(statistics.mean(len(p.path) for p in inc), 1),
        "consistency_path_hashes_mean": round(statistics.mean(len(p.path) for p in con), 1),
        "inclusion_verify_raw_us": per_op_us(raw_inclusion, n),
        "inclusion_file_parse_verify_us": per_op_us(
            lambda: InclusionProof.from_json(nij()).verify(), n
        ),
        "consistency_verify_raw_us": per_op_us(raw_consistency, n),
        "consistency_file_parse_verify_us": per_op_us(
            lambda: ConsistencyProof.from_json(ncj()).verify(), n
        ),
    }
    fig["inclusion_file_vs_raw"] = (
        fig["inclusion_file_parse_verify_us"] / fig["inclusion_verify_raw_us"]
    )
    fig["consistency_file_vs_raw"] = (
        fig["consistency_file_parse_verify_us"] / fig["consistency_verify_raw_us"]
    )
    fig.update(bench_pymerkle(rng, samples))
    return fig


def bench_pymerkle(rng: random.Random, samples: int, leaves: int = 1 << 16) -> dict[str, Any]:
    """The same work in pymerkle 7.0.0 and in ours, on a tree of ``leaves`` leaves."""
    import warnings

    from pymerkle import InclusionProof as PmInclusion
    from pymerkle import InmemoryTree
    from pymerkle import verify_inclusion as pm_verify

    warnings.simplefilter("ignore", DeprecationWarning)
    pm = InmemoryTree(algorithm="sha256")
    ours = MemoryTree()
    for i in range(leaves):
        data = i.to_bytes(8, "big")
        pm.append_entry(data)
        ours.append(data)
    assert pm.get_state(leaves) == ours.root()  # same RFC 9162 root
    picks = [rng.randrange(leaves) for _ in range(samples)]
    pm_items = [
        (
            pm.get_leaf(i + 1),
            pm.get_state(leaves),
            json.dumps(pm.prove_inclusion(i + 1, leaves).serialize()),
        )
        for i in picks
    ]
    our_items = [InclusionProof.build(ours, i, leaves).to_json() for i in picks]
    npm, nours = cycle(pm_items), cycle(our_items)

    def pm_one() -> None:
        base, root, text = npm()
        pm_verify(base, root, PmInclusion.deserialize(json.loads(text)))

    n = samples * 4
    fig = {
        "peer_tree_leaves": leaves,
        "pymerkle_inclusion_parse_verify_us": per_op_us(pm_one, n),
        "ours_inclusion_parse_verify_us_same_tree": per_op_us(
            lambda: InclusionProof.from_json(nours()).verify(), n
        ),
    }
    fig["ours_vs_pymerkle"] = (
        fig["ours_inclusion_parse_verify_us_same_tree"] / fig["pymerkle_inclusion_parse_verify_us"]
    )
    return fig


def bench_checkpoints(samples: int) -> dict[str, Any]:
    signer = NoteSigner.generate("lotproof.example/log")
    verifier = signer.verifier()
    cp = Checkpoint("lotproof.example/log", 1_048_576, os.urandom(32))
    note = sign_checkpoint(cp, [signer])
    body = cp.to_body().encode()
    raw_signer = nacl.signing.SigningKey(signer.seed)
    sig = raw_signer.sign(body).signature
    vk = nacl.signing.VerifyKey(verifier.public_key)
    witnesses = [NoteSigner.generate(f"witness{i}") for i in range(3)]
    cosigned = sign_checkpoint(cp, [signer, *witnesses])
    all_keys = [verifier, *(w.verifier() for w in witnesses)]
    n = samples
    fig: dict[str, Any] = {
        "nacl_verify_us": per_op_us(lambda: vk.verify(body, sig), n),
        "checkpoint_open_us": per_op_us(lambda: open_checkpoint(note, [verifier]), n),
        "nacl_sign_us": per_op_us(lambda: raw_signer.sign(body), n),
        "checkpoint_sign_us": per_op_us(lambda: sign_checkpoint(cp, [signer]), n),
        "checkpoint_open_4_signatures_4_trusted_us": per_op_us(
            lambda: open_checkpoint(cosigned, all_keys), n // 2
        ),
    }
    fig["open_vs_nacl_verify"] = fig["checkpoint_open_us"] / fig["nacl_verify_us"]
    fig["sign_vs_nacl_sign"] = fig["checkpoint_sign_us"] / fig["nacl_sign_us"]
    return fig


def bench_cli(files: int, rng: random.Random) -> dict[str, Any]:
    tree = MemoryTree()
    for i in range(1 << 16):
        tree.append(i.to_bytes(8, "big"))
    fig: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k in range(files):
            path = Path(tmp) / f"p{k}.json"
            path.write_bytes(
                InclusionProof.build(tree, rng.randrange(tree.size), tree.size).to_json()
            )
            paths.append(str(path))

        def library() -> None:
            for p in paths:
                InclusionProof.from_json(Path(p).read_bytes()).verify()

        def in_process() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli_main(["verify", "inclusion", *paths]) == 0

        fig["cli_files"] = files
        fig["library_files_per_s"] = files / (per_op_us(library, 1, 5) / 1e6)
        fig["cli_in_process_files_per_s"] = files / (per_op_us(in_process, 1, 5) / 1e6)
        fig["cli_vs_library"] = fig["cli_in_process_files_per_s"] / fig["library_files_per_s"]

        exe = str(Path(sys.executable).parent / "lotproof")

        def spawn(argv: list[str]) -> float:
            times = []
            for _ in range(7):
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            return statistics.median(times) * 1e3

        fig["python_startup_ms"] = spawn([sys.executable, "-c", "pass"])
        fig["cli_one_file_process_ms"] = spawn([exe, "verify", "inclusion", paths[0]])
        fig["cli_process_vs_python_startup"] = (
            fig["cli_one_file_process_ms"] / fig["python_startup_ms"]
        )
        fig["cli_all_files_process_ms"] = spawn([exe, "verify", "inclusion", *paths])
    return fig


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3 if value < 10 else 1)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1 << 20)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
        "proofs": bench_proofs(args.leaves, args.samples, rng),
        "checkpoints": bench_checkpoints(args.samples),
        "cli": bench_cli(args.files, rng),
    }
    print(json.dumps(_rounded(result), indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
