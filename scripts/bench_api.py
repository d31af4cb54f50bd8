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
import signal
import socket
import statistics
import subprocess
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

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lotproof serve`` in a child process, stopped by its PID."""

    def __init__(self, data_dir: Path, admin_keys: dict[str, bytes]) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        admins = data_dir.parent / f"{data_dir.name}-admins.json"
        admins.write_text(json.dumps({k: v.hex() for k, v in admin_keys.items()}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scripts.cli",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                "--admin-file",
                str(admins),
                "--no-chain",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("lotproof serve exited during start-up")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("lotproof serve did not answer within 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


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


def api_batch_rate(server: Server, records: list[SignedRecord], batch: int) -> float:
    bodies = [
        orjson.dumps({"records": [r.to_dict() for r in records[i : i + batch]]})
        for i in range(0, len(records), batch)
    ]
    with httpx.Client(base_url=server.url, timeout=300) as http:
        start = time.perf_counter()
        for body in bodies:
            r = http.post("/v1/records", content=body, headers={"content-type": "application/json"})
            if r.status_code != 201:
                raise RuntimeError(f"batch refused: {r.status_code} {r.text[:300]}")
        return len(records) / (time.perf_counter() - start)


def api_single_rate(server: Server, records: list[SignedRecord]) -> float:
    bodies = [r.canonical_bytes() for r in records]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        start = time.perf_counter()
        for body in bodies:
            r = http.post("/v1/records", content=body, headers={"content-type": "application/json"})
            if r.status_code != 201:
                raise RuntimeError(f"record refused: {r.status_code} {r.text[:300]}")
        return len(records) / (time.perf_counter() - start)


def trace_bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from api.client import LotproofClient

    bulk = BulkStory(args.records, wide_holders=args.holders, seed="bench-api-large")
    data_dir = work / "large"
    data_dir.mkdir()
    db = Database(f"sqlite:///{data_dir / 'ledger.db'}")
    led = TradeLedger(db, bulk.scn.admin_keys, MerkleLog(db))
    log(f"generating and ingesting {args.records} records (library, not timed here)")
    start = time.perf_counter()
    for chunk in bulk:
        led.preverify(chunk, 2)
        led.submit(chunk)
        if led.log.size() % 100_000 < len(chunk):
            log(f"  {led.log.size()} records, {time.perf_counter() - start:.0f} s")
    wide = bulk.wide_batch_id
    lib_times = []
    for _ in range(args.trace_runs):
        t = time.perf_counter()
        fwd = led.trace_forward(wide)
        lib_times.append((time.perf_counter() - t) * 1000)
    holders = len(fwd.holders)
    db.close()
    server = Server(data_dir, bulk.scn.admin_keys)
    try:
        client = LotproofClient(server.url, bulk.scn.admin, timeout=300)
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
        "bundle_entries": len(answer["bundle"]["entries"]),
        "bundle_bytes": len(raw),
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
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        log(f"generating {args.submit_records} fresh records")
        records, admin = fresh_records(args.submit_records, min(args.holders, 200))
        log("library ingest (yardstick)")
        lib = library_rate(records, admin, f"sqlite:///{work / 'lib.db'}", args.batch)
        lib_single = library_single_rate(
            records[: args.single_records], admin, f"sqlite:///{work / 'lib1.db'}"
        )
        log("API batch submission")
        server = Server(work / "batch", admin)
        try:
            batch = api_batch_rate(server, records, args.batch)
        finally:
            server.stop()
        log("API single-record submission")
        server = Server(work / "single", admin)
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
