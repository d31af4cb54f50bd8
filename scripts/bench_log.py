"""Benchmark of the storage-backed Merkle log against the machine's floor and pymerkle.

    .venv/bin/python scripts/bench_log.py [--leaves 1000000] [--repeats 3] [--json]
                                          [--backend sqlite|postgres|both] [--workdir DIR]
                                          [--keep]

In one run, with medians of repeats:

(a) the machine's floor on one core: SHA-256 of a ~1 KB leaf and of a 65-byte node, PyNaCl
    Ed25519 verification of a ~1 KB signed record;
(b) durable append throughput (1000 entries per committed transaction) on a fresh log:
    unsigned (288-byte leaves only) and signed (parse signed records from JSON, verify the
    Ed25519 signature, build the leaf, append with the record bytes), the signed pipeline
    both in one thread and with a small thread pool verifying ahead of the one writer;
(c) at ``--leaves`` leaves (built once, reused with ``--keep``): reopening the log, the first
    inclusion proof after reopening, inclusion and consistency proofs from storage (random
    indices and sizes, each read on its own, then all in one shared snapshot), historic
    roots, and verifying the proofs. A log kept from before tiles gets them when
    ``build_log`` first opens it, so the reopen figure never includes that;
(d) the yardstick pymerkle 7.0.0: its SQLite tree bulk-loaded with the same leaves, proofs
    after reopening it (the first one, then the median), and its in-memory tree.

Ratios compare against the yardstick measured in the same run. ``--json`` prints one JSON
object with every figure instead of the text report.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nacl.signing  # noqa: E402
import orjson  # noqa: E402

from ledger.leaf import LeafHeader, LeafKind, encode_leaf  # noqa: E402
from ledger.merkle import (  # noqa: E402
    hash_leaf,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from ledger.records import SignedRecord, SigningKey, make_record, verify_record  # noqa: E402
from ledger.storage import Database, LogEntry, MerkleLog  # noqa: E402

BATCH = 1000
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
Figures = dict[str, Any]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rate(count: int, fn: Callable[[], object], repeats: int) -> float:
    """Median operations per second of ``fn`` doing ``count`` operations."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(count / (time.perf_counter() - start))
    return median(rates)


def timed(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> tuple[float, list[Any]]:
    """Call ``fn(*args)`` for each args; return the median latency in us and the results."""
    times, results = [], []
    for args in calls:
        start = time.perf_counter_ns()
        results.append(fn(*args))
        times.append((time.perf_counter_ns() - start) / 1000)
    return median(times), results


# --- data --------------------------------------------------------------------------------


def bench_leaf(i: int) -> bytes:
    """Deterministic 288-byte leaf number ``i`` (a batch leaf with a synthetic digest)."""
    digest = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return encode_leaf(LeafHeader(LeafKind.BATCH), digest)


def record_body(i: int) -> dict[str, Any]:
    """A shipment body; the signed record is about 1 KB, as a typical one is."""
    return {
        "order_id": f"PO-2026-{i:08d}",
        "carrier": "顺丰冷运 SF Cold Chain",
        "from_gln": "6901234000017",
        "to_gln": "6909876000015",
        "lines": [
            {
                "gtin": f"0690123400{k:04d}",
                "batch": f"B{i % 997:05d}-{k}",
                "expiry": "2028-06-30",
                "quantity": 100 + k,
                "unit_price_fen": 12_345 + k,
            }
            for k in range(3)
        ],
        "temperature_log": [{"t": f"2026-11-23T0{h}:00:00Z", "centi_c": 450 + h} for h in range(4)],
    }


def signed_corpus(count: int) -> tuple[list[bytes], dict[str, bytes]]:
    """``count`` signed records as JSON bytes, by three participants; and their keys."""
    keys = [SigningKey(hashlib.sha256(b"bench-key-%d" % k).digest()) for k in range(3)]
    actors = ["91310000MA1K4XXXX1", "91110000MA01YYYYY2", "12100000400000ZZZ3"]
    corpus = []
    for i in range(count):
        key = keys[i % 3]
        signed = make_record(
            key,
            "shipment",
            actors[i % 3],
            record_body(i),
            time="2026-11-23T08:00:00Z",
            record_id=f"bench-{uuid.uuid4().hex}",
        )
        corpus.append(orjson.dumps(signed.to_dict()))
    return corpus, {key.key_id: key.public_key for key in keys}


def prepare(chunk: Sequence[bytes], public_keys: dict[str, bytes]) -> list[LogEntry]:
    """Parse, verify and turn signed records into log entries (what the API does)."""
    entries = []
    for raw in chunk:
        signed = SignedRecord.from_json(raw)
        record = signed.record
        verify_record(signed, public_keys[record.key_id])
        leaf = encode_leaf(LeafHeader(LeafKind.for_record_type(record.type)), signed.digest())
        entries.append(LogEntry(leaf, record.id, signed.canonical_bytes()))
    return entries


_worker_keys: dict[str, bytes] = {}


def _set_keys(keys: dict[str, bytes]) -> None:
    _worker_keys.update(keys)


def _prepare_chunk(chunk: Sequence[bytes]) -> list[LogEntry]:
    return prepare(chunk, _worker_keys)


# --- backends ----------------------------------------------------------------------------


class Backend:
    """Where logs live for one run: a directory of SQLite files or PostgreSQL schemas."""

    def __init__(self, name: str, workdir: Path, postgres_url: str) -> None:
        self.name = name
        self.workdir = workdir
        self.postgres_url = postgres_url
        self._temporary: list[str] = []

    def url(self, tag: str, fresh: bool) -> str:
        if self.name == "sqlite":
            path = self.workdir / f"{tag}.db"
            if fresh:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(f"{path}{suffix}")
            return f"sqlite:///{path}"
        import psycopg

        schema = f"bench_log_{tag}"
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            if fresh:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        if fresh:
            self._temporary.append(schema)
        sep = "&" if "?" in self.postgres_url else "?"
        return f"{self.postgres_url}{sep}options={quote(f'-csearch_path={schema}')}"

    def drop(self, tag: str) -> None:
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self.workdir / tag}.db{suffix}")
            return
        import psycopg

        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "bench_log_{tag}" CASCADE')


@contextlib.contextmanager
def opened(url: str) -> Iterator[tuple[Database, MerkleLog]]:
    db = Database(url)
    try:
        yield db, MerkleLog(db)
    finally:
        db.close()


# --- (a) floor ---------------------------------------------------------------------------


def bench_floor(repeats: int) -> Figures:
    record = orjson.dumps(record_body(1))
    record = (record * 2)[:1024]
    n = 50_000
    sha = hashlib.sha256

    def leaf_hashes() -> None:
        for _ in range(n):
            sha(b"\x00" + record).digest()

    a, b = sha(b"a").digest(), sha(b"b").digest()

    def node_hashes() -> None:
        for _ in range(n):
            sha(b"\x01" + a + b).digest()

    key = nacl.signing.SigningKey(sha(b"floor").digest())
    message = b"lotproof/record/v1\n" + record
    signature = key.sign(message).signature
    verify_key = key.verify_key
    m = 3000

    def verifies() -> None:
        for _ in range(m):
            verify_key.verify(message, signature)

    return {
        "sha256_leaf_1kb_per_s": rate(n, leaf_hashes, repeats),
        "sha256_node_65b_per_s": rate(n, node_hashes, repeats),
        "ed25519_verify_per_s": rate(m, verifies, repeats),
    }


# --- (b) appends -------------------------------------------------------------------------


def bench_appends(
    backend: Backend, repeats: int, unsigned: int, corpus: list[bytes], keys: dict[str, bytes]
) -> Figures:
    figures: Figures = {}

    def fresh(tag: str) -> str:
        return backend.url(f"append_{tag}_{uuid.uuid4().hex[:8]}", fresh=True)

    leaves = [bench_leaf(i) for i in range(unsigned)]
    rates = []
    for _ in range(repeats):
        url = fresh("unsigned")
        with opened(url) as (_, mlog):
            start = time.perf_counter()
            for lo in range(0, unsigned, BATCH):
                mlog.append_batch([LogEntry(leaf) for leaf in leaves[lo : lo + BATCH]])
            rates.append(unsigned / (time.perf_counter() - start))
        backend.drop(url_tag(url))
    figures["unsigned_per_s"] = median(rates)

    chunks = [corpus[lo : lo + BATCH] for lo in range(0, len(corpus), BATCH)]
    for mode in ("one_thread", "2_verifier_threads", "2_verifier_processes"):
        rates = []
        for _ in range(repeats):
            url = fresh("signed")
            pool: Executor | None = None
            if mode == "2_verifier_threads":
                pool = ThreadPoolExecutor(2, initializer=_set_keys, initargs=(keys,))
            elif mode == "2_verifier_processes":
                pool = ProcessPoolExecutor(2, initializer=_set_keys, initargs=(keys,))
            try:
                if pool is not None:  # start the workers before the clock does
                    list(pool.map(_prepare_chunk, [chunks[0][:1]] * 2))
                with opened(url) as (_, mlog):
                    start = time.perf_counter()
                    if pool is None:
                        for chunk in chunks:
                            mlog.append_batch(prepare(chunk, keys))
                    else:
                        for entries in pool.map(_prepare_chunk, chunks):
                            mlog.append_batch(entries)
                    rates.append(len(corpus) / (time.perf_counter() - start))
                    assert mlog.size() == len(corpus)
            finally:
                if pool is not None:
                    pool.shutdown()
            backend.drop(url_tag(url))
        figures[f"signed_{mode}_per_s"] = median(rates)
    return figures


def url_tag(url: str) -> str:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).stem
    schema = url.rsplit("search_path%3D", 1)[-1]
    return schema.removeprefix("bench_log_")


# --- (c) proofs at scale -----------------------------------------------------------------


def build_log(url: str, leaves: int) -> Figures:
    """Append leaves 0..leaves-1 (resuming a cached log) in 1000-leaf transactions."""
    with opened(url) as (_, mlog):
        have = mlog.size()
        if have > leaves:
            raise SystemExit(f"{url} holds {have} leaves, more than --leaves {leaves}")
        start = time.perf_counter()
        for lo in range(have, leaves, BATCH):
            mlog.append_batch([LogEntry(bench_leaf(i)) for i in range(lo, min(lo + BATCH, leaves))])
            if lo and lo % 100_000 == 0:
                log(f"  built {lo:,} leaves")
        took = time.perf_counter() - start
    return {"built_leaves": leaves - have, "build_per_s": (leaves - have) / took if took else None}


def bench_proofs(url: str, leaves: int, expected_root: bytes, proofs: int, repeats: int) -> Figures:
    import random

    rng = random.Random(20261123)
    gc.collect()
    start = time.perf_counter()
    db = Database(url)
    mlog = MerkleLog(db)
    size = mlog.size()
    root = mlog.root()
    reopen_ms = (time.perf_counter() - start) * 1000
    try:
        if size != leaves or root != expected_root:
            raise SystemExit(f"the log at {url} does not hold the expected {leaves} leaves")
        # The first proof after reopening: cold caches (pymerkle's first proof is timed too).
        first_index = rng.randrange(size)
        first_us, _ = timed(mlog.inclusion_proof, [(first_index, size)])
        incl, cons, roots, incl_tx, cons_tx = [], [], [], [], []
        verify_i, verify_c = [], []
        for _ in range(repeats):
            inclusion_calls = [(rng.randrange(size), size) for _ in range(proofs)]
            consistency_calls = [(rng.randint(1, size - 1), size) for _ in range(proofs)]
            us, paths = timed(mlog.inclusion_proof, inclusion_calls)
            incl.append(us)
            us, cpaths = timed(mlog.consistency_proof, consistency_calls)
            cons.append(us)
            us, old_roots = timed(mlog.root, [(s1,) for s1, _ in consistency_calls])
            roots.append(us)
            with db.read() as tx:
                incl_tx.append(timed(mlog.inclusion_proof, [(*c, tx) for c in inclusion_calls])[0])
                cons_tx.append(
                    timed(mlog.consistency_proof, [(*c, tx) for c in consistency_calls])[0]
                )
            verify_i.append(
                timed(
                    verify_inclusion,
                    [
                        (i, n, hash_leaf(bench_leaf(i)), path, root)
                        for (i, n), path in zip(inclusion_calls, paths, strict=True)
                    ],
                )[0]
            )
            verify_c.append(
                timed(
                    verify_consistency,
                    [
                        (s1, n, path, old, root)
                        for (s1, n), path, old in zip(
                            consistency_calls, cpaths, old_roots, strict=True
                        )
                    ],
                )[0]
            )
        return {
            "reopen_ms": reopen_ms,
            "first_inclusion_proof_us": first_us,
            "inclusion_proof_us": median(incl),
            "consistency_proof_us": median(cons),
            "historic_root_us": median(roots),
            "inclusion_proof_shared_snapshot_us": median(incl_tx),
            "consistency_proof_shared_snapshot_us": median(cons_tx),
            "verify_inclusion_us": median(verify_i),
            "verify_consistency_us": median(verify_c),
        }
    finally:
        db.close()


# --- (d) pymerkle ------------------------------------------------------------------------


def bench_pymerkle(
    workdir: Path, leaves: int, expected_root: bytes, proofs: int, keep: bool, memory_leaves: int
) -> Figures:
    import random

    from pymerkle import InmemoryTree, SqliteTree

    rng = random.Random(7)
    figures: Figures = {}
    path = workdir / f"pymerkle_{leaves}.db"
    if not keep or not path.exists():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        tree = SqliteTree(str(path))
        start = time.perf_counter()
        tree.append_entries(bench_leaf(i) for i in range(leaves))
        figures["sqlite_bulk_load_per_s"] = leaves / (time.perf_counter() - start)
        tree.close()
    gc.collect()
    start = time.perf_counter()
    tree = SqliteTree(str(path))
    size = tree.get_size()
    figures["sqlite_reopen_ms"] = (time.perf_counter() - start) * 1000
    try:
        if size != leaves:
            raise SystemExit(f"{path} holds {size} leaves, want {leaves}")
        indices = [rng.randrange(size) for _ in range(proofs)]
        sizes1 = [rng.randint(1, size - 1) for _ in range(proofs)]
        first, _ = timed(tree.prove_inclusion, [(indices[0] + 1, size)])
        figures["sqlite_first_inclusion_proof_us"] = first
        us, made = timed(tree.prove_inclusion, [(i + 1, size) for i in indices])
        figures["sqlite_inclusion_proof_us"] = us
        # Reopen, so consistency proofs start from a cold subtree cache as ours do.
        tree.close()
        tree = SqliteTree(str(path))
        first, _ = timed(tree.prove_consistency, [(sizes1[0], size)])
        figures["sqlite_first_consistency_proof_us"] = first
        us, _ = timed(tree.prove_consistency, [(s1, size) for s1 in sizes1])
        figures["sqlite_consistency_proof_us"] = us
        root = tree.get_root(size)
        if root != expected_root:
            raise SystemExit("pymerkle's root differs from the RFC 9162 root of the same leaves")
        figures["roots_agree"] = True
        figures["verify_inclusion_us"], _ = timed(
            lambda proof, base: proof.verify(base, root),
            [(proof, hash_leaf(bench_leaf(i))) for proof, i in zip(made, indices, strict=True)],
        )
    finally:
        tree.close()

    memory = InmemoryTree()
    data = [bench_leaf(i) for i in range(memory_leaves)]
    start = time.perf_counter()
    for item in data:
        memory.append_entry(item)
    figures["memory_leaves"] = memory_leaves
    figures["memory_append_per_s"] = memory_leaves / (time.perf_counter() - start)
    indices = [rng.randrange(memory_leaves) for _ in range(proofs)]
    sizes1 = [rng.randint(1, memory_leaves - 1) for _ in range(proofs)]
    figures["memory_inclusion_proof_us"], _ = timed(
        memory.prove_inclusion, [(i + 1, memory_leaves) for i in indices]
    )
    figures["memory_consistency_proof_us"], _ = timed(
        memory.prove_consistency, [(s1, memory_leaves) for s1 in sizes1]
    )
    del memory, data
    gc.collect()
    return figures


# --- the run -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--proofs", type=int, default=1000, help="random proofs per repeat")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--save", type=Path, help="also write the JSON object to this file")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the large logs and reuse them next run"
    )
    parser.add_argument("--unsigned", type=int, default=50_000, help="leaves per append run")
    parser.add_argument("--signed", type=int, default=10_000, help="records per signed run")
    parser.add_argument("--skip-pymerkle", action="store_true")
    parser.add_argument(
        "--pymerkle-memory-leaves",
        type=int,
        help="pymerkle in-memory tree size (default: --leaves, at most 1M)",
    )
    args = parser.parse_args(argv)
    if args.leaves < 2 or args.repeats < 1 or args.proofs < 1:
        parser.error("--leaves must be >= 2, --repeats and --proofs >= 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_log_"))
    workdir.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]

    result: Figures = {
        "command": " ".join([".venv/bin/python scripts/bench_log.py", *(argv or sys.argv[1:])]),
        "leaves": args.leaves,
        "repeats": args.repeats,
        "proofs_per_repeat": args.proofs,
        "batch": BATCH,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    try:
        log("floor ...")
        result["floor"] = bench_floor(args.repeats)
        log(f"signing {args.signed:,} records ...")
        corpus, keys = signed_corpus(args.signed)
        result["signed_record_bytes_median"] = median([len(c) for c in corpus])
        log("reference root ...")
        expected_root = root_from_leaf_hashes(
            [hash_leaf(bench_leaf(i)) for i in range(args.leaves)]
        )
        for name in backends:
            backend = Backend(name, workdir, args.postgres_url)
            figures: Figures = {}
            log(f"{name}: appends ...")
            figures["append"] = bench_appends(backend, args.repeats, args.unsigned, corpus, keys)
            tag = f"m{args.leaves}"
            url = backend.url(tag, fresh=not args.keep)
            log(f"{name}: building {args.leaves:,} leaves ...")
            figures["build"] = build_log(url, args.leaves)
            log(f"{name}: proofs ...")
            figures["proofs"] = bench_proofs(
                url, args.leaves, expected_root, args.proofs, args.repeats
            )
            if name == "sqlite":
                path = Path(url.removeprefix("sqlite:///"))
                figures["database_mb"] = path.stat().st_size / 1e6
            if not args.keep:
                backend.drop(tag)
            result[name] = figures
        if not args.skip_pymerkle:
            log("pymerkle ...")
            result["pymerkle"] = bench_pymerkle(
                workdir,
                args.leaves,
                expected_root,
                args.proofs,
                args.keep,
                args.pymerkle_memory_leaves or min(args.leaves, 1_000_000),
            )
        result["ratios"] = ratios(result, backends)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.save:
        args.save.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(report(result, backends))
    return 0


def ratios(result: Figures, backends: Sequence[str]) -> Figures:
    out: Figures = {}
    verify_rate = result["floor"]["ed25519_verify_per_s"]
    py = result.get("pymerkle")
    for name in backends:
        fig = result[name]
        r: Figures = {
            "signed_best_vs_ed25519_verify": max(
                v for k, v in fig["append"].items() if k.startswith("signed")
            )
            / verify_rate,
            "signed_one_thread_vs_ed25519_verify": fig["append"]["signed_one_thread_per_s"]
            / verify_rate,
            "signed_2_threads_vs_ed25519_verify": fig["append"]["signed_2_verifier_threads_per_s"]
            / verify_rate,
        }
        if py:
            r["inclusion_vs_pymerkle_sqlite"] = (
                py["sqlite_inclusion_proof_us"] / fig["proofs"]["inclusion_proof_us"]
            )
            r["consistency_vs_pymerkle_sqlite"] = (
                py["sqlite_consistency_proof_us"] / fig["proofs"]["consistency_proof_us"]
            )
            r["first_inclusion_vs_pymerkle_sqlite_first"] = (
                py["sqlite_first_inclusion_proof_us"] / fig["proofs"]["inclusion_proof_us"]
            )
            r["unsigned_append_vs_pymerkle_memory_append"] = (
                fig["append"]["unsigned_per_s"] / py["memory_append_per_s"]
            )
        out[name] = r
    return out


def report(result: Figures, backends: Sequence[str]) -> str:
    f = result["floor"]
    lines = [
        f"command: {result['command']}",
        f"leaves {result['leaves']:,}, repeats {result['repeats']}, "
        f"{result['proofs_per_repeat']} random proofs per repeat, {result['batch']} per commit",
        "",
        "(a) floor, one core",
        f"  SHA-256 leaf (1 KB)      {f['sha256_leaf_1kb_per_s']:>12,.0f} /s",
        f"  SHA-256 node (65 B)      {f['sha256_node_65b_per_s']:>12,.0f} /s",
        f"  Ed25519 verify (PyNaCl)  {f['ed25519_verify_per_s']:>12,.0f} /s",
        f"  signed records: {result['signed_record_bytes_median']:,.0f} bytes of JSON (median)",
    ]
    for name in backends:
        fig, r = result[name], result["ratios"][name]
        a, p = fig["append"], fig["proofs"]
        lines += [
            "",
            f"[{name}]",
            "(b) durable append, 1000 per transaction",
            f"  unsigned leaves          {a['unsigned_per_s']:>12,.0f} /s",
            f"  signed, one thread       {a['signed_one_thread_per_s']:>12,.0f} /s"
            f"  ({r['signed_one_thread_vs_ed25519_verify']:.0%} of Ed25519 verify)",
            f"  signed, 2 verifier thr.  {a['signed_2_verifier_threads_per_s']:>12,.0f} /s"
            f"  ({r['signed_2_threads_vs_ed25519_verify']:.0%} of Ed25519 verify)",
            f"  signed, 2 verifier proc. {a['signed_2_verifier_processes_per_s']:>12,.0f} /s"
            f"  (best {r['signed_best_vs_ed25519_verify']:.0%} of Ed25519 verify)",
            f"(c) at {result['leaves']:,} leaves"
            + (f" ({fig['database_mb']:,.0f} MB)" if "database_mb" in fig else ""),
            f"  build                    {fig['build']['build_per_s'] or 0:>12,.0f} /s"
            f" ({fig['build']['built_leaves']:,} appended this run)",
            f"  reopen                   {p['reopen_ms']:>12.2f} ms",
            f"  first inclusion proof    {p['first_inclusion_proof_us']:>12.1f} us",
            f"  inclusion proof          {p['inclusion_proof_us']:>12.1f} us"
            f"  (shared snapshot {p['inclusion_proof_shared_snapshot_us']:.1f} us)",
            f"  consistency proof        {p['consistency_proof_us']:>12.1f} us"
            f"  (shared snapshot {p['consistency_proof_shared_snapshot_us']:.1f} us)",
            f"  historic root            {p['historic_root_us']:>12.1f} us",
            f"  verify inclusion         {p['verify_inclusion_us']:>12.1f} us",
            f"  verify consistency       {p['verify_consistency_us']:>12.1f} us",
        ]
        if "inclusion_vs_pymerkle_sqlite" in r:
            lines += [
                f"  vs pymerkle SQLite: inclusion {r['inclusion_vs_pymerkle_sqlite']:,.0f}x faster,"
                f" consistency {r['consistency_vs_pymerkle_sqlite']:,.0f}x faster;"
                f" its first proof after reopening"
                f" {r['first_inclusion_vs_pymerkle_sqlite_first']:,.0f}x our median",
            ]
    py = result.get("pymerkle")
    if py:
        lines += [
            "",
            "(d) pymerkle 7.0.0",
            f"  SQLite bulk load         {py.get('sqlite_bulk_load_per_s', 0):>12,.0f} /s",
            f"  SQLite reopen            {py['sqlite_reopen_ms']:>12.2f} ms",
            f"  SQLite first inclusion   {py['sqlite_first_inclusion_proof_us']:>12,.0f} us",
            f"  SQLite inclusion proof   {py['sqlite_inclusion_proof_us']:>12,.1f} us",
            f"  SQLite first consistency {py['sqlite_first_consistency_proof_us']:>12,.0f} us",
            f"  SQLite consistency proof {py['sqlite_consistency_proof_us']:>12,.1f} us",
            f"  verify inclusion         {py['verify_inclusion_us']:>12.1f} us",
            f"  in-memory append ({py['memory_leaves']:,}) {py['memory_append_per_s']:>8,.0f} /s",
            f"  in-memory inclusion      {py['memory_inclusion_proof_us']:>12.1f} us",
            f"  in-memory consistency    {py['memory_consistency_proof_us']:>12.1f} us",
            f"  roots agree with ours: {py['roots_agree']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
