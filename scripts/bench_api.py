"""Benchmark the API: submission throughput, trace-with-proofs latency, bundle verification.

    .venv/bin/python -m scripts.bench_api                      # 1M-record ledger for traces
    .venv/bin/python -m scripts.bench_api --records 200000 --submit-records 20000 --json

1. Ingest yardstick: ``TradeLedger.submit`` called directly (the library), batches of
   ``--batch`` with signatures pre-verified in two threads, on a fresh SQLite ledger.
2. The same records through a real ``lotproof serve`` (uvicorn, 127.0.0.1, started and
   stopped by PID by this script, no chain): ``POST /v1/records`` with batches of ``--batch``,
   and one record per request for the first ``--single-records``. Bodies are serialized
   before timing (clients sign and encode on their own machines).
3. A ``--records`` ledger (``BulkStory``: one batch reaching ``--holders`` holders, then
   ordinary trade) is ingested with the library, served, and the forward trace of the wide
   batch is fetched ``--trace-runs`` times as a proof bundle (auditor token): median latency,
   against the library's own trace (no proofs) in the same run. The bundle is then verified
   offline (``ledger.bundle.check_bundle``): median time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from ledger.bundle import Bundle, check_bundle
from ledger.checkpoint import NoteVerifier
from ledger.records import SignedRecord
from ledger.storage.db import Database
from ledger.storage.log import MerkleLog
from ledger.trade.ledger import TradeLedger
from ledger.trade.scenario import BulkStory
from scripts.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def start_server(data_dir: Path, admin_keys: dict[str, bytes]) -> ServeProcess:
    """``lotproof serve`` without a chain, on its own data dir, stopped by its PID."""
    data_dir.mkdir(parents=True, exist_ok=True)
    admins = data_dir.parent / f"{data_dir.name}-admins.json"
    admins.write_text(json.dumps({k: v.hex() for k, v in admin_keys.items()}))
    return ServeProcess(data_dir, admins, args=["--no-chain"], startup_timeout=120)


def fresh_records(n: int, holders: int) -> tuple[list[SignedRecord], dict[str, bytes]]:
    """``n`` signed records dated over the last hours (fresh enough for the API's clock)."""
    bulk = BulkStory(n, wide_holders=holders, seed="bench-api")
    bulk.scn.clock = datetime.now(UTC) - timedelta(seconds=3 * n + 600)
    records = [r for chunk in bulk for r in chunk]
    return records, bulk.scn.admin_keys


def library_rate(
    records: list[SignedRecord], admin: dict[str, bytes], url: str, batch: int
) -> float:
    db = Database(url)
    led = TradeLedger(db, admin, MerkleLog(db))
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        led.preverify(chunk, 2)
        led.submit(chunk, now=datetime.now(UTC))
    elapsed = time.perf_counter() - start
    db.close()
    return len(records) / elapsed


def library_single_rate(records: list[SignedRecord], admin: dict[str, bytes], url: str) -> float:
    """The library committing one record per transaction (the yardstick for single posts)."""
    db = Database(url)
    led = TradeLedger(db, admin, MerkleLog(db))
    start = time.perf_counter()
    for r in records:
        led.submit([r], now=datetime.now(UTC))
    elapsed = time.perf_counter() - start
    db.close()
    return len(records) / elapsed


def _post_rate(server: ServeProcess, bodies: list[bytes], records: int, timeout: float) -> float:
    """Records per second posting ``bodies`` one after another to ``POST /v1/records``."""
    with httpx.Client(base_url=server.url, timeout=timeout) as http:
        start = time.perf_counter()
        for body in bodies:
            r = http.post("/v1/records", content=body, headers={"content-type": "application/json"})
            if r.status_code != 201:
                raise RuntimeError(f"submission refused: {r.status_code} {r.text[:300]}")
        return records / (time.perf_counter() - start)


def api_batch_rate(server: ServeProcess, records: list[SignedRecord], batch: int) -> float:
    bodies = [
        orjson.dumps({"records": [r.to_dict() for r in records[i : i + batch]]})
        for i in range(0, len(records), batch)
    ]
    return _post_rate(server, bodies, len(records), timeout=300)


def api_single_rate(server: ServeProcess, records: list[SignedRecord]) -> float:
    return _post_rate(server, [r.canonical_bytes() for r in records], len(records), timeout=60)


def large_ledger(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Any]]:
    """The ``--records`` ledger for traces: a data dir holding ``ledger.db``, and its meta
    (admin keys, wide batch id). With ``--cache DIR`` it is built once in DIR and reused by
    later runs with the same ``--records`` and ``--holders`` (a 1M-record ledger takes many
    minutes to build); the server only adds checkpoints to it."""
    if args.cache is not None:
        data_dir = Path(args.cache) / f"api-large-{args.records}-{args.holders}"
    else:
        data_dir = work / "large"
    meta_path = data_dir / "bench-meta.json"
    if meta_path.exists():
        log(f"reusing the ledger in {data_dir}")
        return data_dir, json.loads(meta_path.read_text())
    if data_dir.exists():
        shutil.rmtree(data_dir)  # an unfinished build
    data_dir.mkdir(parents=True)
    bulk = BulkStory(args.records, wide_holders=args.holders, seed="bench-api-large")
    db = Database(f"sqlite:///{data_dir / 'ledger.db'}")
    led = TradeLedger(db, bulk.scn.admin_keys, MerkleLog(db))
    log(f"generating and ingesting {args.records} records (library, not timed here)")
    start = time.perf_counter()
    for chunk in bulk:
        led.preverify(chunk, 2)
        led.submit(chunk)
        if led.log.size() % 100_000 < len(chunk):
            log(f"  {led.log.size()} records, {time.perf_counter() - start:.0f} s")
    db.close()
    meta = {
        "wide_batch_id": bulk.wide_batch_id,
        "admin_keys": {k: v.hex() for k, v in bulk.scn.admin_keys.items()},
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    meta_path.write_text(json.dumps(meta))
    return data_dir, meta


def trace_bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from api.client import LotproofClient

    data_dir, meta = large_ledger(args, work)
    admin_keys = {k: bytes.fromhex(v) for k, v in meta["admin_keys"].items()}
    wide = meta["wide_batch_id"]
    db = Database(f"sqlite:///{data_dir / 'ledger.db'}")
    led = TradeLedger(db, admin_keys, MerkleLog(db))
    lib_times = []
    for _ in range(args.trace_runs):
        t = time.perf_counter()
        fwd = led.trace_forward(wide)
        lib_times.append((time.perf_counter() - t) * 1000)
    holders = len(fwd.holders)
    db.close()
    server = start_server(data_dir, admin_keys)
    try:
        # The admin's key is derived from the story's seed: rebuild it without the records.
        admin = BulkStory(args.records, wide_holders=args.holders, seed="bench-api-large").scn.admin
        client = LotproofClient(server.url, admin, timeout=300)
        client.checkpoint_now()
        times = []
        answer: dict[str, Any] = {}
        for _ in range(args.trace_runs + 1):
            t = time.perf_counter()
            answer = client.trace_forward(wide)
            times.append((time.perf_counter() - t) * 1000)
        times = times[1:]  # the first fetch warms the server's caches
        vkey = client.log_info()["checkpoint_key"]
    finally:
        server.stop()
    raw = orjson.dumps(answer["bundle"])
    verify_times = []
    report = None
    for _ in range(5):
        t = time.perf_counter()
        report = check_bundle(Bundle.from_json(raw), [NoteVerifier.from_string(vkey)])
        verify_times.append((time.perf_counter() - t) * 1000)
    assert report is not None
    if not report.ok:
        raise RuntimeError(f"the trace bundle did not verify: {report.failures[:3]}")
    return {
        "ledger_records": args.records,
        "wide_batch_holders": holders,
        "bundle_version": answer["bundle"]["version"],
        "bundle_entries": len(answer["bundle"]["entries"]),
        "bundle_bytes": len(raw),
        "inclusion_proof_hashes": len(answer["bundle"].get("inclusion_proof", ())),
        "trace_with_proofs_ms_median": round(statistics.median(times), 1),
        "trace_with_proofs_ms_p90": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
        "library_trace_ms_median": round(statistics.median(lib_times), 1),
        "bundle_verify_ms_median": round(statistics.median(verify_times), 1),
        "bundle_checks": len(report.findings),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="ledger size for traces")
    ap.add_argument("--holders", type=int, default=1000)
    ap.add_argument("--submit-records", type=int, default=20_000)
    ap.add_argument("--single-records", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--trace-runs", type=int, default=15)
    ap.add_argument("--skip-trace", action="store_true")
    ap.add_argument("--skip-submit", action="store_true")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the --records ledger in this directory and reuse it on later runs",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        if not args.skip_submit:
            log(f"generating {args.submit_records} fresh records")
            records, admin = fresh_records(args.submit_records, min(args.holders, 200))
            log("library ingest (yardstick)")
            lib = library_rate(records, admin, f"sqlite:///{work / 'lib.db'}", args.batch)
            lib_single = library_single_rate(
                records[: args.single_records], admin, f"sqlite:///{work / 'lib1.db'}"
            )
            log("API batch submission")
            server = start_server(work / "batch", admin)
            try:
                batch = api_batch_rate(server, records, args.batch)
            finally:
                server.stop()
            log("API single-record submission")
            server = start_server(work / "single", admin)
            try:
                single = api_single_rate(server, records[: args.single_records])
            finally:
                server.stop()
            results["submission"] = {
                "records": len(records),
                "library_ingest_per_s": round(lib),
                "api_batch_per_s": round(batch),
                "api_batch_vs_library": round(batch / lib, 3),
                "api_single_per_s": round(single),
                "library_single_per_s": round(lib_single),
                "api_single_vs_library_single": round(single / lib_single, 3),
                "batch_size": args.batch,
            }
            log(json.dumps(results["submission"]))
        if not args.skip_trace:
            results["trace"] = trace_bench(args, work)
            log(json.dumps(results["trace"]))
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
