"""``TradeLedger``: the facade the API, the CLI and the benchmark call.

``submit`` checks a batch of signed records in order against state as it evolves within the
batch; one refused record refuses the whole batch (``RecordRefused`` with the rule id and the
record's index) and nothing is written. Otherwise, in ONE ``db.write()`` transaction, it
appends the leaves to the Merkle log and updates the derived state, and returns a receipt per
record (leaf index, leaf hash, record id).

The leaf header is computed here, never taken from the client: zero chain fields, except for
an acceptance of an order with escrow terms, whose header carries the order's chain id,
escrow contract, escrow order id, buyer and seller addresses, and amount = (cumulative
Σ (accepted - returned) × unit price, in fen, over the order so far) × ``units_per_fen``.

Committed rows are cached between submits; the cache is trusted only while the log still has
the size it had after this instance's last commit (checked under the write lock at the start
of every submit), so other writers are seen.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from ledger.errors import (
    ConflictError,
    LedgerError,
    MalformedInputError,
    NotFoundError,
    RuleViolation,
    SignatureError,
    StorageError,
)
from ledger.gcpause import gc_paused
from ledger.leaf import encode_leaf
from ledger.merkle import hash_leaf
from ledger.records import SignedRecord, key_id_for, verify_many, verify_record
from ledger.storage.db import Database
from ledger.storage.log import LogEntry, MerkleLog
from ledger.trade import alerts as alerts_mod
from ledger.trade import trace as trace_mod
from ledger.trade.errors import MalformedRecord, RecordRefused
from ledger.trade.rules import Context, RuleConfig, apply_record, prefetch
from ledger.trade.state import (
    ROW_TYPES,
    BatchRow,
    EdgeRow,
    InvoiceRow,
    KeyRow,
    OrderRow,
    ParticipantRow,
    QualRow,
    RecordRow,
    Row,
    ShipmentRow,
    StateCache,
    StockRow,
    UnitRow,
    WorkingState,
    ensure_schema,
    load_all,
    load_row,
    load_where,
    upsert,
)


@dataclass(frozen=True)
class Receipt:
    """The promise of inclusion for one accepted record."""

    leaf_index: int
    leaf_hash: bytes
    record_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.hex(),
            "record_id": self.record_id,
        }


@dataclass(frozen=True)
class Difference:
    """One disagreement between live state and state rebuilt from the log."""

    table: str
    key: Any
    live: Row | None
    rebuilt: Row | None
    note: str = ""


@dataclass(frozen=True)
class StateDiff:
    log_size: int
    replayed: int
    differences: tuple[Difference, ...]
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class RecordInfo:
    row: RecordRow
    signed: SignedRecord
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class OrderStatus:
    order: OrderRow
    lines: tuple[dict[str, Any], ...]
    shipments: tuple[ShipmentRow, ...]
    invoices: tuple[InvoiceRow, ...]

    @property
    def status(self) -> str:
        return self.order.status

    @property
    def amount_due_fen(self) -> int:
        return self.order.amount_due_fen


def to_json(row: Any) -> Any:
    """A row (or a list of rows) as JSON-ready values: bytes as hex, JSON columns parsed."""
    if isinstance(row, list | tuple):
        return [to_json(r) for r in row]
    if not hasattr(row, "__dataclass_fields__"):
        return row.hex() if isinstance(row, bytes) else row
    out: dict[str, Any] = {}
    for f in fields(row):
        value = getattr(row, f.name)
        if isinstance(value, bytes):
            value = value.hex()
        elif f.name in ("lines", "escrow", "temperature") and isinstance(value, str):
            import orjson

            value = orjson.loads(value)
        elif isinstance(value, SignedRecord):
            value = value.to_dict()
        elif hasattr(value, "__dataclass_fields__"):
            value = to_json(value)
        out[f.name] = value
    return out


class TradeLedger:
    """Rules, derived state and the Merkle log of one consortium's trade."""

    def __init__(
        self,
        db: Database,
        admin_keys: Mapping[str, bytes],
        log: MerkleLog,
        *,
        config: RuleConfig | None = None,
        cache_rows: int = 500_000,
        freeze_gc: bool = False,
    ) -> None:
        for admin, key in admin_keys.items():
            if not isinstance(key, bytes) or len(key) != 32:
                raise MalformedInputError(f"admin {admin!r} key must be 32 bytes of Ed25519")
        self.db = db
        self.log = log
        self.admin_keys = dict(admin_keys)
        self.config = config or RuleConfig()
        ensure_schema(db)
        self._cache = StateCache(cache_rows)
        self._verified: set[bytes] = set()
        self._submit_lock = threading.Lock()  # one submit at a time per instance (the cache)
        # Bulk ingest only (``ledger.gcpause.gc_paused(freeze_after=True)``): after each batch
        # what survived is frozen, so the collector stops re-walking the cache and the log's
        # nodes (at 1M records it cost 15 s of 128). Never in a server: cycles would leak.
        self._freeze_gc = freeze_gc

    # -- writing ---------------------------------------------------------------------------
    def submit(self, signed: Sequence[SignedRecord], now: datetime | None = None) -> list[Receipt]:
        """Check and append ``signed`` all-or-nothing; see the module docstring."""
        signed = list(signed)
        if not signed:
            return []
        for i, s in enumerate(signed):
            if not isinstance(s, SignedRecord):
                raise MalformedInputError(f"record {i} is a {type(s).__name__}, not a SignedRecord")
        if now is not None and (not isinstance(now, datetime) or now.utcoffset() is None):
            raise MalformedInputError(f"now must be a timezone-aware datetime, got {now!r}")
        ctx = Context(self.admin_keys, self.config, now, verified=self._was_verified)
        # The collector's passes over a batch's objects grow with the row cache: measured over
        # the first 250k records of the benchmark ledger, 116 us per record with it running
        # throughout, 103 paused per batch. Other threads' collections wait one batch too.
        pause = gc_paused(collect_young_after=True, freeze_after=self._freeze_gc)
        with self._submit_lock, pause:
            return self._submit(signed, ctx)

    def _submit(self, signed: list[SignedRecord], ctx: Context) -> list[Receipt]:
        with self.db.write() as tx:
            base = self.log.size(tx)
            cache = self._cache
            if cache.log_size != base or cache.size() > cache.max_rows:
                cache.clear()
            cache.log_size = base
            ws = WorkingState(tx, cache)
            prefetch(ws, signed)
            entries = [self._apply(ws, ctx, s, i, base + i) for i, s in enumerate(signed)]
            indices = self.log.append(tx, entries)
            if indices != list(range(base, base + len(signed))):
                raise StorageError(
                    f"the log assigned indices {indices[:1]}..., expected from {base}"
                )
            ws.flush()
        ws.commit_to_cache(base + len(signed))
        return [
            Receipt(base + i, hash_leaf(e.leaf), s.record.id)
            for i, (s, e) in enumerate(zip(signed, entries, strict=True))
        ]

    @staticmethod
    def _apply(
        ws: WorkingState, ctx: Context, s: SignedRecord, i: int, leaf_index: int
    ) -> LogEntry:
        try:
            header = apply_record(ws, ctx, s, leaf_index)
        except RuleViolation as e:
            raise RecordRefused(e.rule_id, e.detail, i, s.record.id) from None
        except MalformedInputError as e:
            raise MalformedRecord(str(e), i, s.record.id) from None
        return LogEntry(encode_leaf(header, s.digest()), s.record.id, s.canonical_bytes())

    def _was_verified(self, signed: SignedRecord, public_key: bytes) -> bool:
        return _sig_key(signed, public_key) in self._verified

    def preverify(
        self, signed: Sequence[SignedRecord], workers: int = 2, *, pool: Executor | None = None
    ) -> int:
        """Verify signatures ahead of ``submit`` in a thread pool (PyNaCl releases the GIL),
        or, with ``pool`` (e.g. a ``ProcessPoolExecutor``), in ``workers`` slices run there.

        Keys are looked up as currently enrolled; ``submit`` still resolves every key under
        the write lock and only skips the Ed25519 check for a (record, key) pair verified
        here. Records whose key is unknown yet are left for ``submit``. Returns how many
        signatures verified.

        Threads need the GIL between signatures, which a busy writer (``submit`` in another
        thread) holds: measured on 20k records, verifying the next batch in a thread while
        submitting took about as long as verifying first and submitting after. A process
        pool runs beside the writer; it receives plain bytes (``verify_many``) and hands back
        each record's digest too, which the writer needs anyway.
        """
        if len(self._verified) > 2_000_000:
            self._verified.clear()
        wanted = {s.record.key_id for s in signed}
        admin = {key_id_for(k): k for k in self.admin_keys.values()}
        keys: dict[str, bytes] = {k: v for k, v in admin.items() if k in wanted}
        missing = sorted(wanted - keys.keys())
        if missing:
            with self.db.read() as tx:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    for key_id, public_key in tx.query(
                        f"SELECT key_id, public_key FROM trade_keys WHERE key_id IN ({marks})"
                        " AND revoked_at IS NULL",
                        chunk,
                    ):
                        keys[key_id] = bytes(public_key)
        jobs = [(s, keys[s.record.key_id]) for s in signed if s.record.key_id in keys]

        def check(job: tuple[SignedRecord, bytes]) -> bytes | None:
            s, public_key = job
            try:
                verify_record(s, public_key)
            except SignatureError:
                return None
            return _sig_key(s, public_key)

        if pool is not None:
            triples = [(k, s.record.canonical_bytes(), s.signature) for s, k in jobs]
            size = max(1, -(-len(triples) // max(1, workers)))
            parts = [
                pool.submit(verify_many, triples[i : i + size])
                for i in range(0, len(triples), size)
            ]
            digests = [d for part in parts for d in part.result()]
            results: list[bytes | None] = []
            for (s, k), digest in zip(jobs, digests, strict=True):
                if digest is None:
                    results.append(None)
                else:
                    s.set_digest(digest)  # the worker hashed it; the writer needs it too
                    results.append(_sig_key(s, k))
        elif workers <= 1:
            results = [check(job) for job in jobs]
        else:
            with ThreadPoolExecutor(workers) as threads:
                results = list(threads.map(check, jobs, chunksize=256))
        good = [r for r in results if r is not None]
        self._verified.update(good)
        return len(good)

    # -- rebuilding -------------------------------------------------------------------------
    def rebuild(
        self, check_only: bool = True, *, verify_signatures: bool = True, chunk: int = 5000
    ) -> StateDiff:
        """Replay the log alone into fresh tables and compare them with the live state.

        Every leaf is re-derived (rules, header, digest) and compared with the stored leaf;
        every row of every trade table is compared. With ``check_only=False`` the live
        tables are replaced by the rebuilt ones in one transaction, which first checks, under
        the write lock, that the log has not grown since the replay read it (a submit in the
        meantime would lose its rows): if it has, ``ConflictError`` and nothing is written.
        """
        fresh = Database("sqlite:///:memory:")
        try:
            ensure_schema(fresh)
            notes: list[Difference] = []
            ctx = Context(self.admin_keys, self.config, None, check_signatures=verify_signatures)
            cache = StateCache(0)
            with self.db.read() as live_tx:
                size = self.log.size(live_tx)
                for start in range(0, size, chunk):
                    stored = self.log.entries(start, min(size, start + chunk), tx=live_tx)
                    with fresh.write() as tx:
                        cache.clear()
                        ws = WorkingState(tx, cache)
                        for entry in stored:
                            notes.extend(self._replay_one(ws, ctx, entry))
                        ws.flush()
                live = {cls: load_all(live_tx, cls) for cls in ROW_TYPES}
            with fresh.read() as tx:
                rebuilt = {cls: load_all(tx, cls) for cls in ROW_TYPES}
            differences = notes + _compare(live, rebuilt)
            repaired = False
            if not check_only and differences:
                with self._submit_lock, self.db.write() as tx:
                    grown = self.log.size(tx)
                    if grown != size:
                        raise ConflictError(
                            f"the log grew from {size} to {grown} leaves while the state was"
                            " rebuilt; nothing was repaired: rebuild again"
                        )
                    for cls in ROW_TYPES:
                        tx.execute(f"DELETE FROM {cls.TABLE}")
                        upsert(tx, cls, rebuilt[cls])
                    self._cache.clear()
                repaired = True
            return StateDiff(size, size, tuple(differences), repaired)
        finally:
            fresh.close()

    @staticmethod
    def _replay_one(ws: WorkingState, ctx: Context, entry: Any) -> list[Difference]:
        where = f"leaf {entry.index}"
        if entry.record is None:
            return [Difference("log", entry.index, None, None, f"{where} carries no record")]
        try:
            signed = SignedRecord.from_json(entry.record)
            header = apply_record(ws, ctx, signed, entry.index)
        except LedgerError as e:
            return [Difference("log", entry.index, None, None, f"{where} does not replay: {e}")]
        leaf = encode_leaf(header, signed.digest())
        if leaf != entry.leaf:
            return [
                Difference(
                    "log",
                    entry.index,
                    None,
                    None,
                    f"{where}: stored leaf differs from the leaf its record derives",
                )
            ]
        return []

    # -- reading ------------------------------------------------------------------------------
    def _one(self, cls: type[Any], key: Any, what: str) -> Any:
        with self.db.read() as tx:
            row = load_row(tx, cls, key)
        if row is None:
            raise NotFoundError(f"no {what} {key!r}")
        return row

    def record(self, record_id: str) -> RecordInfo:
        """The record with its leaf; ``NotFoundError`` if it was never accepted."""
        with self.db.read() as tx:
            row = load_row(tx, RecordRow, record_id)
            if row is None:
                raise NotFoundError(f"no record {record_id!r} on the ledger")
            entry = self.log.entry(row.leaf_index, tx=tx)
        if entry.record is None:
            raise StorageError(f"leaf {row.leaf_index} has no stored record")
        return RecordInfo(row, SignedRecord.from_json(entry.record), entry.leaf, entry.leaf_hash)

    def participant(self, uscc: str) -> ParticipantRow:
        row: ParticipantRow = self._one(ParticipantRow, uscc, "participant")
        return row

    def keys(self, uscc: str) -> list[KeyRow]:
        with self.db.read() as tx:
            return load_where(tx, KeyRow, "uscc = ? ORDER BY added_at, key_id", (uscc,))

    def qualifications(self, uscc: str) -> list[QualRow]:
        with self.db.read() as tx:
            return load_where(tx, QualRow, "holder = ? ORDER BY recorded_at, record_id", (uscc,))

    def product(self, code: str) -> Any:
        from ledger.trade.state import ProductRow

        return self._one(ProductRow, code, "product")

    def batch(self, batch_id: str) -> BatchRow:
        row: BatchRow = self._one(BatchRow, batch_id, "batch")
        return row

    def batch_by_lot(self, product: str, lot: str) -> BatchRow:
        with self.db.read() as tx:
            rows = load_where(tx, BatchRow, "product = ? AND lot = ?", (product, lot))
        if not rows:
            raise NotFoundError(f"no lot {lot!r} of product {product!r}")
        return rows[0]

    def stock(self, holder: str, batch_id: str) -> StockRow:
        with self.db.read() as tx:
            row = load_row(tx, StockRow, (holder, batch_id))
        return row if row is not None else StockRow(holder, batch_id, 0, 0)

    def holdings(self, holder: str) -> list[StockRow]:
        with self.db.read() as tx:
            return load_where(tx, StockRow, "holder = ? ORDER BY batch_id", (holder,))

    def unit(self, code: str) -> UnitRow:
        row: UnitRow = self._one(UnitRow, code, "traceability code")
        return row

    def shipment(self, shipment_id: str) -> ShipmentRow:
        row: ShipmentRow = self._one(ShipmentRow, shipment_id, "shipment")
        return row

    def order_status(self, order_id: str) -> OrderStatus:
        with self.db.read() as tx:
            order = load_row(tx, OrderRow, order_id)
            if order is None:
                raise NotFoundError(f"no order {order_id!r}")
            shipments = load_where(
                tx, ShipmentRow, "order_id = ? ORDER BY shipment_leaf", (order_id,)
            )
            invoices = load_where(tx, InvoiceRow, "order_id = ? ORDER BY issued_at", (order_id,))
        lines = tuple(
            {
                **ln,
                "lacking": ln["quantity"] - (ln["shipped"] - ln["rejected"]),
                "in_transit": ln["shipped"] - ln["rejected"] - ln["accepted"],
            }
            for ln in order.line_list
        )
        return OrderStatus(order, lines, tuple(shipments), tuple(invoices))

    def edges(self, batch_id: str) -> list[EdgeRow]:
        with self.db.read() as tx:
            return load_where(tx, EdgeRow, "batch_id = ? ORDER BY shipment_leaf, line", (batch_id,))

    # -- trace (see ledger.trade.trace) ---------------------------------------------------------
    def trace_forward(self, batch_id: str) -> trace_mod.ForwardTrace:
        with self.db.read() as tx:
            return trace_mod.forward(tx, batch_id)

    def trace_reverse(self, holder: str, batch_id: str) -> trace_mod.ReverseTrace:
        with self.db.read() as tx:
            return trace_mod.reverse(tx, holder, batch_id)

    def trace_unit(self, code: str) -> trace_mod.ReverseTrace:
        with self.db.read() as tx:
            return trace_mod.reverse_unit(tx, code)

    def two_invoice(
        self, holder: str, batch_id: str, policy: trace_mod.TwoInvoicePolicy | None = None
    ) -> trace_mod.TwoInvoiceCheck:
        with self.db.read() as tx:
            return trace_mod.two_invoice_check(tx, holder, batch_id, policy)

    def alerts(
        self, today: date, policy: trace_mod.TwoInvoicePolicy | None = None
    ) -> alerts_mod.Alerts:
        """Licences expiring within 30 days, lots near expiry, excursions, two-invoice breaks."""
        with self.db.read() as tx:
            return alerts_mod.all_alerts(tx, today, policy)

    def read(self) -> Any:
        """A read snapshot for callers that combine several queries (trace, alerts)."""
        return self.db.read()


def _sig_key(signed: SignedRecord, public_key: bytes) -> bytes:
    return hashlib.sha256(public_key + signed.digest()).digest()


def _compare(
    live: Mapping[type[Row], Iterable[Row]], rebuilt: Mapping[type[Row], Iterable[Row]]
) -> list[Difference]:
    out: list[Difference] = []
    for cls in ROW_TYPES:
        a = {r.key: r for r in live[cls]}
        b = {r.key: r for r in rebuilt[cls]}
        for key in sorted(a.keys() | b.keys(), key=repr):
            left, right = a.get(key), b.get(key)
            if left != right:
                note = (
                    "missing from live state"
                    if left is None
                    else ("not derivable from the log" if right is None else "values differ")
                )
                out.append(Difference(cls.TABLE, key, left, right, note))
    return out
