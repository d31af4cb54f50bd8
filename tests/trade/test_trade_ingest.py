"""The ingest path's machinery: writing state rows (one PostgreSQL statement per submit,
INSERT for new keys, upsert otherwise) and verifying signatures ahead in a process pool."""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import typing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from trade_support import World, open_ledger, snapshot

from ledger.errors import StorageError
from ledger.records import SignedRecord
from ledger.storage.db import Database
from ledger.storage.log import MerkleLog
from ledger.trade.errors import RecordRefused
from ledger.trade.ledger import TradeLedger
from ledger.trade.scenario import AMOXICILLIN, Scenario, cast, trade_story
from ledger.trade.state import ROW_TYPES, Row, ensure_schema, load_all, upsert, write_rows

# Values a JSON or text round trip could mangle: quotes, backslashes, JSON-looking text,
# control characters, non-ASCII, NUL bytes; integers that fit every INTEGER column (the
# BIGINT ones get 2**62 in test_upsert_alone_updates_in_place).
TEXTS = ['他说"好"\\n', '[{"a": 1}]', "tab\there\u0001", "藥品 ✓"]
INTS = [2_000_000_000, -123_456, 0]
BLOBS = [b"\x00\x01\xff" * 7, bytes(32)]


def sample_row(cls: type[Row], i: int, *, nulls: bool) -> Row:
    values: dict[str, Any] = {}
    for n, f in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        kind = str(f.type)
        if nulls and "None" in kind:
            values[f.name] = None
        elif kind.startswith("str"):
            values[f.name] = f"{TEXTS[(i + n) % len(TEXTS)]}-{i}"
        elif kind.startswith("int"):
            values[f.name] = INTS[(i + n) % len(INTS)] + i
        else:
            values[f.name] = BLOBS[(i + n) % len(BLOBS)] + bytes([i])
    return cls(**values)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    ensure_schema(database)
    yield database
    database.close()


def test_every_table_round_trips_inserts_and_upserts(db: Database) -> None:
    rows = {cls: [sample_row(cls, i, nulls=i % 2 == 1) for i in range(3)] for cls in ROW_TYPES}
    with db.write() as tx:
        write_rows(tx, [(cls, rs, True) for cls, rs in rows.items()])
    with db.read() as tx:
        for cls, rs in rows.items():
            assert load_all(tx, cls) == sorted(rs, key=lambda r: r.values()[: len(cls.KEY)])
    # the same keys again, other values (nulls where there were values): upserted
    changed = {
        cls: [
            dataclasses.replace(sample_row(cls, i + 10, nulls=i % 2 == 0), **_key(r))
            for i, r in enumerate(rs)
        ]
        for cls, rs in rows.items()
    }
    with db.write() as tx:
        write_rows(tx, [(cls, rs, False) for cls, rs in changed.items()])
    with db.read() as tx:
        for cls, rs in changed.items():
            assert load_all(tx, cls) == sorted(rs, key=lambda r: r.values()[: len(cls.KEY)])


def test_upsert_alone_updates_in_place(db: Database) -> None:
    from ledger.trade.state import StockRow

    with db.write() as tx:
        upsert(tx, StockRow, [StockRow("h", "b", 5, 1), StockRow("h", "c", 2, 0)])
        upsert(tx, StockRow, [StockRow("h", "b", 2**62 + 9, 4)])
    with db.read() as tx:
        assert load_all(tx, StockRow) == [
            StockRow("h", "b", 2**62 + 9, 4),
            StockRow("h", "c", 2, 0),
        ]


def test_a_new_row_whose_key_exists_fails_and_writes_nothing(db: Database) -> None:
    from ledger.trade.state import InvoiceRow, RecordRow

    inv = InvoiceRow("i1", "N1", "s", "b", None, 100, "", "2026-01-01T00:00:00Z")
    with db.write() as tx:
        write_rows(tx, [(InvoiceRow, [inv], True)])
    record = RecordRow("r9", 9, "invoice", "s", "2026-01-01T00:00:00Z")
    with pytest.raises(StorageError), db.write() as tx:
        write_rows(tx, [(RecordRow, [record], True), (InvoiceRow, [inv], True)])
    with db.read() as tx:
        assert load_all(tx, RecordRow) == []
        assert load_all(tx, InvoiceRow) == [inv]


def _key(row: Row) -> dict[str, Any]:
    return {k: getattr(row, k) for k in type(row).KEY}


# -- verifying ahead in a process pool -----------------------------------------------------------
@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


def _tampered(signed: SignedRecord) -> SignedRecord:
    sig = signed.signature
    return SignedRecord(signed.record, bytes([sig[0] ^ 0x40]) + sig[1:])


def test_preverify_in_processes_marks_good_signatures_only(
    world: World, pool: ProcessPoolExecutor
) -> None:
    scn = world.scn
    good = [scn.batch(world.mah, AMOXICILLIN, f"P{i:03d}", 10) for i in range(5)]
    bad = _tampered(scn.batch(world.mah, AMOXICILLIN, "P900", 10))
    fresh = [SignedRecord.from_json(s.canonical_bytes()) for s in [*good, bad]]
    assert world.led.preverify(fresh, 2, pool=pool) == 5
    # the worker's digests were adopted and are the records' own
    assert [s.digest() for s in fresh] == [s.digest() for s in [*good, bad]]
    world.ok(*fresh[:5])
    world.refused("SIG-INVALID", fresh[5])


def test_preverify_in_processes_equals_preverify_in_threads(
    sqlite_url: str, pool: ProcessPoolExecutor
) -> None:
    scn = Scenario("pool")
    p, records = cast(scn)
    led_a = open_ledger(sqlite_url, scn)
    led_a.submit(records)
    more = [scn.batch(p["mah"], AMOXICILLIN, f"Q{i:03d}", 5) for i in range(8)]
    more[3] = _tampered(more[3])
    by_threads = led_a.preverify(more, 2)
    led_a._verified.clear()
    assert led_a.preverify(more, 2, pool=pool) == by_threads == 7


# -- prefetching what a batch looks up -------------------------------------------------------------
def test_a_lot_registered_in_an_earlier_batch_is_found_by_the_batch_prefetch(
    database_url: str,
) -> None:
    world = World(database_url)
    scn = world.scn
    first = scn.batch(world.mah, AMOXICILLIN, "PF-1", 10)
    world.ok(first, scn.batch(world.mah, AMOXICILLIN, "PF-2", 10))
    fresh = open_ledger(database_url, scn)  # empty cache: only the prefetch queries can know
    again = scn.batch(world.mah, AMOXICILLIN, "PF-2", 5)
    with pytest.raises(RecordRefused) as info:
        fresh.submit([scn.batch(world.mah, AMOXICILLIN, "PF-3", 5), again])
    assert (info.value.rule_id, info.value.index) == ("BATCH-DUPLICATE", 1)
    replayed = SignedRecord.from_json(first.canonical_bytes())
    with pytest.raises(RecordRefused) as info:
        fresh.submit([replayed])
    assert info.value.rule_id == "REC-REPLAY"
    fresh.submit([scn.batch(world.mah, AMOXICILLIN, "PF-3", 5)])
    assert fresh.batch_by_lot(AMOXICILLIN, "PF-3").quantity == 5


def test_a_small_cache_of_orders_shipments_and_invoices_gives_the_same_ledger(
    database_url: str, tmp_path: Path
) -> None:
    story = trade_story()
    small = open_ledger(database_url, story.scn)
    small._cache.transient_rows = 2  # evicts on nearly every commit
    for signed in story.records:
        small.submit([signed])
    whole = open_ledger(f"sqlite:///{tmp_path / 'whole.db'}", story.scn)
    whole.submit(story.records)
    assert snapshot(small) == snapshot(whole)
    assert small.rebuild().ok


def test_the_bulk_ingest_collector_setting_gives_the_same_ledger(
    database_url: str, tmp_path: Path
) -> None:
    """``TradeLedger(freeze_gc=True)`` freezes what survives each batch (bulk import); the
    ledger it writes is the one the default writes, and the freeze is undone after."""
    story = trade_story()
    frozen = TradeLedger(
        Database(database_url), story.scn.admin_keys, MerkleLog(Database(database_url)),
        freeze_gc=True,
    )  # fmt: skip
    try:
        for signed in story.records:
            frozen.submit([signed])
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    plain = open_ledger(f"sqlite:///{tmp_path / 'plain.db'}", story.scn)
    for signed in story.records:
        plain.submit([signed])
    assert snapshot(frozen) == snapshot(plain)


def test_the_trace_edge_reads_columns_of_the_edge_table_in_their_order() -> None:
    """``trace.Edge`` restates part of ``state.EdgeRow`` (the trace selects its fields by
    name, ``EDGE_SQL``): a field renamed or reordered in one must be in the other too."""
    from ledger.trade.state import EdgeRow
    from ledger.trade.trace import Edge

    columns = list(EdgeRow.columns())
    positions = [columns.index(name) for name in Edge._fields if name in columns]
    assert len(positions) == len(Edge._fields), set(Edge._fields) - set(columns)
    assert positions == sorted(positions)
    hints = typing.get_type_hints(EdgeRow)
    for name, kind in typing.get_type_hints(Edge).items():
        assert hints[name] == kind, name
