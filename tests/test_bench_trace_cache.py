"""scripts/bench_trace.py --workdir: generated records are kept, named by their parameters
and the generator's source, and reused instead of generated again."""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.bench_trace import cache_key, read_chunks, records_file


def args(records: int, holders: int = 40) -> argparse.Namespace:
    return argparse.Namespace(records=records, holders=holders, chunk=100)


def test_records_are_generated_once_then_reused(tmp_path: Path) -> None:
    path, meta, generated = records_file(tmp_path, args(250))
    assert generated
    records = [r for chunk in read_chunks(path, 100) for r in chunk]
    assert len(records) == meta["records"] == 250
    assert sum(meta["kinds"].values()) == 250
    written = path.stat().st_mtime_ns

    again, meta_again, generated_again = records_file(tmp_path, args(250))
    assert (again, generated_again) == (path, False)
    assert meta_again == meta
    assert again.stat().st_mtime_ns == written
    assert not list(tmp_path.glob("*.partial"))


def test_other_parameters_name_another_file(tmp_path: Path) -> None:
    assert cache_key(args(250)) != cache_key(args(300))
    assert cache_key(args(250)) != cache_key(args(250, holders=50))
    first, _, _ = records_file(tmp_path, args(250))
    second, meta, generated = records_file(tmp_path, args(300))
    assert first != second and generated and meta["records"] == 300
