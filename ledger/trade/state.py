"""Derived trade state: tables, row types, and the working overlay the rules read and write.

The log is the source of truth; everything here can be rebuilt by replaying it
(``TradeLedger.rebuild``). Each table's rows are frozen dataclasses whose fields are exactly
the table's columns (str, int, bytes or None), so loading and storing are generic. Rules
never see SQL: they call ``WorkingState`` methods, which read through a per-submit overlay,
then a cache of committed rows, then the database; all changes stay in the overlay until
``flush`` writes them in the submit's one transaction.

Tables (component ``trade``, schema version 1):

- ``trade_records``: every accepted record id with its leaf index, type, actor and time
  (replay protection, record lookup, corrections).
- ``trade_participants``, ``trade_keys`` (validity by added/revoked time),
  ``trade_qualifications`` (the licence watch list: indexed by holder and by ``valid_to``).
- ``trade_products``, ``trade_batches`` (status: active / quarantined / recalled: the recall
  marks), ``trade_recalls``, ``trade_units`` (each traceability code's current holder and
  the shipment it is in transit on), ``trade_unit_events``.
- ``trade_stock`` per (holder, batch): received, shipped; on hand = received - shipped.
- ``trade_orders`` with per-line progress (shipped, rejected, accepted, returned), escrow
  terms, the amount owed to the seller and the payment status; ``trade_invoices``,
  ``trade_disputes``.
- ``trade_shipments`` (sales and returns, with their lines and acceptance) and their
  projection ``trade_edges``, one row per (shipment, line): batch, from, to, quantities,
  dates and leaf indices, indexed by batch and by (holder, batch) for trace.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar, TypeVar

import orjson

from ledger.storage.db import IN_LIST_CHUNK, POSTGRES, Database, Transaction

SCHEMA_COMPONENT = "trade"
SCHEMA_VERSION = 1

SCHEMA: list[str] = [
    "CREATE TABLE trade_records (record_id TEXT PRIMARY KEY, leaf_index {bigint} NOT NULL,"
    " type TEXT NOT NULL, actor TEXT NOT NULL, time TEXT NOT NULL, superseded_by TEXT)",
    "CREATE UNIQUE INDEX trade_records_leaf ON trade_records (leaf_index)",
    "CREATE TABLE trade_participants (uscc TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " roles TEXT NOT NULL, public INTEGER, region TEXT NOT NULL, evm_address {blob},"
    " deemed_manufacturer TEXT, record_id TEXT NOT NULL, enrolled_at TEXT NOT NULL)",
    "CREATE TABLE trade_keys (key_id TEXT PRIMARY KEY, uscc TEXT NOT NULL,"
    " public_key {blob} NOT NULL, added_at TEXT NOT NULL, added_by TEXT NOT NULL,"
    " revoked_at TEXT, revoked_by TEXT)",
    "CREATE INDEX trade_keys_uscc ON trade_keys (uscc)",
    "CREATE TABLE trade_qualifications (record_id TEXT PRIMARY KEY, holder TEXT NOT NULL,"
    " kind TEXT NOT NULL, number TEXT NOT NULL, scope TEXT NOT NULL, authority TEXT NOT NULL,"
    " valid_from TEXT NOT NULL, valid_to TEXT, verdict TEXT NOT NULL, reviewer TEXT NOT NULL,"
    " document_sha256 {blob} NOT NULL, recorded_at TEXT NOT NULL, withdrawn_by TEXT)",
    "CREATE INDEX trade_qualifications_holder ON trade_qualifications (holder)",
    "CREATE INDEX trade_qualifications_valid_to ON trade_qualifications (valid_to)",
    "CREATE TABLE trade_products (code TEXT PRIMARY KEY, record_id TEXT NOT NULL,"
    " mah TEXT NOT NULL, manufacturers TEXT NOT NULL, category TEXT NOT NULL,"
    " special_class TEXT, storage_min_tenths_c INTEGER NOT NULL,"
    " storage_max_tenths_c INTEGER NOT NULL, cold_chain INTEGER NOT NULL,"
    " approval_number TEXT NOT NULL, generic_name TEXT NOT NULL, gtin TEXT)",
    "CREATE TABLE trade_batches (batch_id TEXT PRIMARY KEY, product TEXT NOT NULL,"
    " lot TEXT NOT NULL, registrant TEXT NOT NULL, mfg_date TEXT NOT NULL,"
    " expiry_date TEXT NOT NULL, quantity {bigint} NOT NULL, status TEXT NOT NULL,"
    " status_record TEXT, recall_level TEXT, registered_at TEXT NOT NULL,"
    " batch_leaf {bigint} NOT NULL, unit_coded INTEGER NOT NULL DEFAULT 0)",
    "CREATE UNIQUE INDEX trade_batches_lot ON trade_batches (product, lot)",
    "CREATE INDEX trade_batches_expiry ON trade_batches (expiry_date)",
    "CREATE TABLE trade_recalls (recall_id TEXT PRIMARY KEY, product TEXT NOT NULL,"
    " lots TEXT NOT NULL, action TEXT NOT NULL, level TEXT, issued_at TEXT NOT NULL,"
    " issuer TEXT NOT NULL)",
    "CREATE TABLE trade_units (code TEXT PRIMARY KEY, batch_id TEXT NOT NULL,"
    " holder TEXT NOT NULL, in_transit TEXT)",
    "CREATE INDEX trade_units_batch ON trade_units (batch_id)",
    "CREATE TABLE trade_unit_events (code TEXT NOT NULL, record_id TEXT NOT NULL,"
    " from_holder TEXT, to_holder TEXT NOT NULL, PRIMARY KEY (code, record_id))",
    "CREATE TABLE trade_stock (holder TEXT NOT NULL, batch_id TEXT NOT NULL,"
    " received {bigint} NOT NULL, shipped {bigint} NOT NULL, PRIMARY KEY (holder, batch_id))",
    "CREATE INDEX trade_stock_batch ON trade_stock (batch_id)",
    "CREATE TABLE trade_orders (order_id TEXT PRIMARY KEY, buyer TEXT NOT NULL,"
    " seller TEXT NOT NULL, number TEXT NOT NULL, ordered_at TEXT NOT NULL,"
    " total_fen {bigint} NOT NULL, lines TEXT NOT NULL, escrow TEXT,"
    " amount_due_fen {bigint} NOT NULL, status TEXT NOT NULL, payment_status TEXT NOT NULL,"
    " dispute_id TEXT, order_leaf {bigint} NOT NULL, escrow_key TEXT)",
    "CREATE INDEX trade_orders_buyer ON trade_orders (buyer)",
    "CREATE UNIQUE INDEX trade_orders_escrow ON trade_orders (escrow_key)",
    "CREATE INDEX trade_orders_seller ON trade_orders (seller)",
    "CREATE TABLE trade_shipments (shipment_id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " order_id TEXT NOT NULL, shipper TEXT NOT NULL, consignee TEXT NOT NULL, carrier TEXT,"
    " shipped_at TEXT NOT NULL, lines TEXT NOT NULL, temperature TEXT,"
    " excursion INTEGER NOT NULL, status TEXT NOT NULL, shipment_leaf {bigint} NOT NULL,"
    " acceptance_id TEXT, acceptance_leaf {bigint}, accepted_at TEXT, reverses TEXT)",
    "CREATE INDEX trade_shipments_order ON trade_shipments (order_id)",
    "CREATE TABLE trade_edges (shipment_id TEXT NOT NULL, line INTEGER NOT NULL,"
    " batch_id TEXT NOT NULL, kind TEXT NOT NULL, from_holder TEXT NOT NULL,"
    " to_holder TEXT NOT NULL, order_id TEXT NOT NULL, quantity {bigint} NOT NULL,"
    " accepted {bigint} NOT NULL, rejected {bigint} NOT NULL, returned {bigint} NOT NULL,"
    " status TEXT NOT NULL, shipped_at TEXT NOT NULL, accepted_at TEXT,"
    " shipment_leaf {bigint} NOT NULL, acceptance_id TEXT, acceptance_leaf {bigint},"
    " excursion INTEGER NOT NULL, PRIMARY KEY (shipment_id, line))",
    "CREATE INDEX trade_edges_batch ON trade_edges (batch_id)",
    "CREATE INDEX trade_edges_to ON trade_edges (to_holder, batch_id)",
    "CREATE TABLE trade_invoices (invoice_id TEXT PRIMARY KEY, number TEXT NOT NULL,"
    " seller TEXT NOT NULL, buyer TEXT NOT NULL, order_id TEXT, total_fen {bigint} NOT NULL,"
    " upstream TEXT NOT NULL, issued_at TEXT NOT NULL, voided_by TEXT)",
    "CREATE INDEX trade_invoices_order ON trade_invoices (order_id)",
    "CREATE TABLE trade_disputes (dispute_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,"
    " opened_by TEXT NOT NULL, opened_at TEXT NOT NULL, reason TEXT NOT NULL,"
    " resolution_id TEXT, to_seller_fen {bigint}, to_buyer_fen {bigint})",
]


def dumps(value: Any) -> str:
    """Deterministic JSON text for the state's JSON columns."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str) -> Any:
    return orjson.loads(text)


def split(text: str) -> list[str]:
    return text.split(",") if text else []


_COLUMNS: dict[type, tuple[str, ...]] = {}
_GETTERS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}


# -- rows ------------------------------------------------------------------------------------
class Row:
    """Base of the row types: fields = columns; ``TABLE`` and ``KEY`` name the table."""

    TABLE: ClassVar[str]
    KEY: ClassVar[tuple[str, ...]]

    @property
    def key(self) -> Any:
        return _getters(type(self))[1](self)

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        cols: tuple[str, ...] | None = _COLUMNS.get(cls)
        if cols is None:
            cols = _COLUMNS[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cols

    def values(self) -> tuple[Any, ...]:
        values: tuple[Any, ...] = _getters(type(self))[0](self)
        return values


def _getters(cls: type[Row]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(all columns as a tuple, the key: one value or a tuple) for a row class."""
    found = _GETTERS.get(cls)
    if found is None:
        cols = cls.columns()
        every = operator.attrgetter(*cols) if len(cols) > 1 else (lambda r: (getattr(r, cols[0]),))
        found = _GETTERS[cls] = (every, operator.attrgetter(*cls.KEY))
    return found


def replace(row: R, **changes: Any) -> R:
    """A copy of ``row`` with ``changes`` to existing columns (faster than
    ``dataclasses.replace``: the frozen ``__init__`` is skipped; cached properties are not
    copied, so they are computed again from the new values)."""
    cls = type(row)
    cols = cls.columns()
    values = dict(zip(cols, row.values(), strict=True))
    values.update(changes)
    if len(values) != len(cols):
        unknown = sorted(set(values) - set(cols))
        raise TypeError(f"{cls.__name__} has no columns {', '.join(unknown)}")
    new = object.__new__(cls)
    new.__dict__.update(values)
    return new


@dataclass(frozen=True)
class RecordRow(Row):
    TABLE: ClassVar[str] = "trade_records"
    KEY: ClassVar[tuple[str, ...]] = ("record_id",)
    record_id: str
    leaf_index: int
    type: str
    actor: str
    time: str
    superseded_by: str | None = None


@dataclass(frozen=True)
class ParticipantRow(Row):
    TABLE: ClassVar[str] = "trade_participants"
    KEY: ClassVar[tuple[str, ...]] = ("uscc",)
    uscc: str
    name: str
    roles: str
    public: int | None
    region: str
    evm_address: bytes | None
    deemed_manufacturer: str | None
    record_id: str
    enrolled_at: str

    @functools.cached_property
    def role_set(self) -> frozenset[str]:
        return frozenset(split(self.roles))

    @property
    def public_hospital(self) -> bool:
        return bool(self.public) and "hospital" in self.role_set


@dataclass(frozen=True)
class KeyRow(Row):
    TABLE: ClassVar[str] = "trade_keys"
    KEY: ClassVar[tuple[str, ...]] = ("key_id",)
    key_id: str
    uscc: str
    public_key: bytes
    added_at: str
    added_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class QualRow(Row):
    TABLE: ClassVar[str] = "trade_qualifications"
    KEY: ClassVar[tuple[str, ...]] = ("record_id",)
    record_id: str
    holder: str
    kind: str
    number: str
    scope: str
    authority: str
    valid_from: str
    valid_to: str | None
    verdict: str
    reviewer: str
    document_sha256: bytes
    recorded_at: str
    withdrawn_by: str | None = None

    @functools.cached_property
    def scope_set(self) -> frozenset[str]:
        return frozenset(split(self.scope))

    @functools.cached_property
    def from_date(self) -> date:
        return date.fromisoformat(self.valid_from)

    @functools.cached_property
    def to_date(self) -> date | None:
        return None if self.valid_to is None else date.fromisoformat(self.valid_to)

    @property
    def usable(self) -> bool:
        """Approved by the reviewer and not withdrawn by a correction."""
        return self.verdict == "approved" and self.withdrawn_by is None

    def valid_on(self, day: date) -> bool:
        """Valid from ``valid_from`` up to, not including, ``valid_to``."""
        return self.from_date <= day and (self.to_date is None or day < self.to_date)


@dataclass(frozen=True)
class ProductRow(Row):
    TABLE: ClassVar[str] = "trade_products"
    KEY: ClassVar[tuple[str, ...]] = ("code",)
    code: str
    record_id: str
    mah: str
    manufacturers: str
    category: str
    special_class: str | None
    storage_min_tenths_c: int
    storage_max_tenths_c: int
    cold_chain: int
    approval_number: str
    generic_name: str
    gtin: str | None


@dataclass(frozen=True)
class BatchRow(Row):
    TABLE: ClassVar[str] = "trade_batches"
    KEY: ClassVar[tuple[str, ...]] = ("batch_id",)
    batch_id: str
    product: str
    lot: str
    registrant: str
    mfg_date: str
    expiry_date: str
    quantity: int
    status: str
    status_record: str | None
    recall_level: str | None
    registered_at: str
    batch_leaf: int
    unit_coded: int = 0  # registered with traceability codes: every move must list them

    @functools.cached_property
    def expiry(self) -> date:
        return date.fromisoformat(self.expiry_date)


@dataclass(frozen=True)
class RecallRow(Row):
    TABLE: ClassVar[str] = "trade_recalls"
    KEY: ClassVar[tuple[str, ...]] = ("recall_id",)
    recall_id: str
    product: str
    lots: str
    action: str
    level: str | None
    issued_at: str
    issuer: str


@dataclass(frozen=True)
class UnitRow(Row):
    TABLE: ClassVar[str] = "trade_units"
    KEY: ClassVar[tuple[str, ...]] = ("code",)
    code: str
    batch_id: str
    holder: str
    in_transit: str | None = None


@dataclass(frozen=True)
class UnitEventRow(Row):
    TABLE: ClassVar[str] = "trade_unit_events"
    KEY: ClassVar[tuple[str, ...]] = ("code", "record_id")
    code: str
    record_id: str
    from_holder: str | None
    to_holder: str


@dataclass(frozen=True)
class StockRow(Row):
    TABLE: ClassVar[str] = "trade_stock"
    KEY: ClassVar[tuple[str, ...]] = ("holder", "batch_id")
    holder: str
    batch_id: str
    received: int = 0
    shipped: int = 0

    @property
    def on_hand(self) -> int:
        return self.received - self.shipped


@dataclass(frozen=True)
class OrderRow(Row):
    """``lines``: JSON list of {product, lot, quantity, unit_price_fen, shipped, rejected,
    accepted, returned}; ``shipped`` counts what left the seller (less cancelled shipments)."""

    TABLE: ClassVar[str] = "trade_orders"
    KEY: ClassVar[tuple[str, ...]] = ("order_id",)
    order_id: str
    buyer: str
    seller: str
    number: str
    ordered_at: str
    total_fen: int
    lines: str
    escrow: str | None
    amount_due_fen: int
    status: str
    payment_status: str
    dispute_id: str | None
    order_leaf: int
    escrow_key: str | None = None

    @functools.cached_property
    def line_list(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = loads(self.lines)
        return lines

    @functools.cached_property
    def escrow_terms(self) -> dict[str, Any] | None:
        return None if self.escrow is None else dict(loads(self.escrow))


@dataclass(frozen=True)
class ShipmentRow(Row):
    """``lines``: JSON list of {batch, product, lot, quantity, order_line, accepted, rejected,
    returned, unit_codes}. ``kind`` is ``sale`` or ``return`` (then ``reverses`` names the
    sale shipment and the row is accepted on arrival)."""

    TABLE: ClassVar[str] = "trade_shipments"
    KEY: ClassVar[tuple[str, ...]] = ("shipment_id",)
    shipment_id: str
    kind: str
    order_id: str
    shipper: str
    consignee: str
    carrier: str | None
    shipped_at: str
    lines: str
    temperature: str | None
    excursion: int
    status: str
    shipment_leaf: int
    acceptance_id: str | None = None
    acceptance_leaf: int | None = None
    accepted_at: str | None = None
    reverses: str | None = None

    @functools.cached_property
    def line_list(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = loads(self.lines)
        return lines

    def edges(self) -> list[EdgeRow]:
        # lines parsed here unless already cached: the flush must not leave a parsed copy
        # on every shipment that enters the row cache (the collector scans it)
        lines = self.__dict__.get("line_list") or loads(self.lines)
        return [
            EdgeRow(
                shipment_id=self.shipment_id,
                line=i,
                batch_id=line["batch"],
                kind=self.kind,
                from_holder=self.shipper,
                to_holder=self.consignee,
                order_id=self.order_id,
                quantity=line["quantity"],
                accepted=line["accepted"],
                rejected=line["rejected"],
                returned=line["returned"],
                status=self.status,
                shipped_at=self.shipped_at,
                accepted_at=self.accepted_at,
                shipment_leaf=self.shipment_leaf,
                acceptance_id=self.acceptance_id,
                acceptance_leaf=self.acceptance_leaf,
                excursion=self.excursion,
            )
            for i, line in enumerate(lines)
        ]


@dataclass(frozen=True)
class EdgeRow(Row):
    TABLE: ClassVar[str] = "trade_edges"
    KEY: ClassVar[tuple[str, ...]] = ("shipment_id", "line")
    shipment_id: str
    line: int
    batch_id: str
    kind: str
    from_holder: str
    to_holder: str
    order_id: str
    quantity: int
    accepted: int
    rejected: int
    returned: int
    status: str
    shipped_at: str
    accepted_at: str | None
    shipment_leaf: int
    acceptance_id: str | None
    acceptance_leaf: int | None
    excursion: int


@dataclass(frozen=True)
class InvoiceRow(Row):
    TABLE: ClassVar[str] = "trade_invoices"
    KEY: ClassVar[tuple[str, ...]] = ("invoice_id",)
    invoice_id: str
    number: str
    seller: str
    buyer: str
    order_id: str | None
    total_fen: int
    upstream: str
    issued_at: str
    voided_by: str | None = None


@dataclass(frozen=True)
class DisputeRow(Row):
    TABLE: ClassVar[str] = "trade_disputes"
    KEY: ClassVar[tuple[str, ...]] = ("dispute_id",)
    dispute_id: str
    order_id: str
    opened_by: str
    opened_at: str
    reason: str
    resolution_id: str | None = None
    to_seller_fen: int | None = None
    to_buyer_fen: int | None = None


ROW_TYPES: tuple[type[Row], ...] = (
    RecordRow,
    ParticipantRow,
    KeyRow,
    QualRow,
    ProductRow,
    BatchRow,
    RecallRow,
    UnitRow,
    UnitEventRow,
    StockRow,
    OrderRow,
    ShipmentRow,
    EdgeRow,
    InvoiceRow,
    DisputeRow,
)
TABLES = {cls.TABLE: cls for cls in ROW_TYPES}
R = TypeVar("R", bound=Row)


def ensure_schema(db: Database) -> None:
    db.ensure_schema(SCHEMA_COMPONENT, SCHEMA_VERSION, SCHEMA)


def _select(cls: type[Row]) -> str:
    return f"SELECT {', '.join(cls.columns())} FROM {cls.TABLE}"


def _where_key(cls: type[Row]) -> str:
    return " AND ".join(f"{k} = ?" for k in cls.KEY)


def _key_params(cls: type[Row], key: Any) -> tuple[Any, ...]:
    return key if len(cls.KEY) > 1 else (key,)


def _from_db(cls: type[R], row: Sequence[Any]) -> R:
    return cls(*row)  # SQLite BLOB and psycopg BYTEA both come back as bytes


def load_row(tx: Transaction, cls: type[R], key: Any) -> R | None:
    row = tx.query_one(f"{_select(cls)} WHERE {_where_key(cls)}", _key_params(cls, key))
    return None if row is None else _from_db(cls, row)


def load_where(tx: Transaction, cls: type[R], where: str, params: Sequence[Any]) -> list[R]:
    return [_from_db(cls, row) for row in tx.query(f"{_select(cls)} WHERE {where}", params)]


def load_in(tx: Transaction, cls: type[R], column: str, values: Sequence[Any]) -> list[R]:
    """The rows of ``cls`` whose ``column`` is one of ``values`` (bounded ``IN`` lists)."""
    return [
        _from_db(cls, row)
        for row in tx.query_in(f"{_select(cls)} WHERE {column} IN ({{in}})", values)
    ]


def load_all(tx: Transaction, cls: type[R]) -> list[R]:
    order = ", ".join(cls.KEY)
    return [_from_db(cls, row) for row in tx.query(f"{_select(cls)} ORDER BY {order}")]


def upsert(tx: Transaction, cls: type[Row], rows: Iterable[Row]) -> None:
    """Insert or update ``rows`` (by key, each key once). PostgreSQL gets ONE statement for
    all of them (the rows as one JSON parameter, bytes as hex), SQLite an ``executemany``
    (no round trips there)."""
    rows = list(rows)
    if not rows:
        return
    if tx.dialect is not POSTGRES:
        tx.executemany(_upsert_sql(cls, pg=False), [r.values() for r in rows])
        return
    tx.execute(_upsert_sql(cls, pg=True), (_json_rows(cls, rows),))


def write_rows(tx: Transaction, groups: Sequence[tuple[type[Row], Sequence[Row], bool]]) -> None:
    """Write groups of (row class, rows, new): ``new`` rows are INSERTed (their keys must be
    absent), the others upserted. PostgreSQL gets ONE statement for every group (one
    data-modifying CTE each, rows as jsonb parameters): one round trip per submit."""
    if not groups:
        return
    if tx.dialect is not POSTGRES:
        for cls, rows, new in groups:
            tx.executemany(_write_sql(cls, pg=False, new=new), [r.values() for r in rows])
        return
    key = tuple((cls, new) for cls, _, new in groups)
    sql = _COMBINED_SQL.get(key)
    if sql is None:
        parts = ", ".join(
            f"w{i} AS ({_write_sql(cls, pg=True, new=new)})" for i, (cls, new) in enumerate(key)
        )
        sql = _COMBINED_SQL[key] = f"WITH {parts} SELECT 1"
    tx.execute(sql, [_json_rows(cls, rows) for cls, rows, _ in groups])


def _json_rows(cls: type[Row], rows: Sequence[Row]) -> str:
    values = [r.values() for r in rows]
    blobs = _blob_columns(cls)
    if blobs:
        values = [
            tuple(v.hex() if i in blobs and v is not None else v for i, v in enumerate(row))
            for row in values
        ]
    return orjson.dumps(values).decode()


_COMBINED_SQL: dict[tuple[tuple[type, bool], ...], str] = {}
_RECORD_KEYED = frozenset(
    cls.TABLE
    for cls in (RecordRow, QualRow, BatchRow, OrderRow, ShipmentRow, InvoiceRow, DisputeRow)
)  # keyed by the id of the record that creates the row
_UPSERT_SQL: dict[tuple[type, bool], str] = {}
_WRITE_SQL: dict[tuple[type, bool, bool], str] = {}


def _write_sql(cls: type[Row], *, pg: bool, new: bool) -> str:
    if not new:
        return _upsert_sql(cls, pg=pg)
    sql = _WRITE_SQL.get((cls, pg, new))
    if sql is None:
        upsert_sql = _upsert_sql(cls, pg=pg)
        sql = _WRITE_SQL[cls, pg, new] = upsert_sql[: upsert_sql.index(" ON CONFLICT ")]
    return sql


_BLOBS: dict[type, frozenset[int]] = {}


def _kinds(cls: type[Row]) -> list[str]:
    """Each column's Python type name (``str``, ``int``, ``bytes``), optional or not."""
    return [str(f.type).split(" |")[0] for f in fields(cls)]  # type: ignore[arg-type]


def _blob_columns(cls: type[Row]) -> frozenset[int]:
    found = _BLOBS.get(cls)
    if found is None:
        found = _BLOBS[cls] = frozenset(i for i, k in enumerate(_kinds(cls)) if k == "bytes")
    return found


def _upsert_sql(cls: type[Row], *, pg: bool) -> str:
    sql = _UPSERT_SQL.get((cls, pg))
    if sql is None:
        cols = cls.columns()
        updates = [c for c in cols if c not in cls.KEY]
        if pg:
            cast = {"str": "r->>{}", "int": "(r->>{})::bigint", "bytes": "decode(r->>{}, 'hex')"}
            picks = ", ".join(cast[k].format(i) for i, k in enumerate(_kinds(cls)))
            source = f"SELECT {picks} FROM jsonb_array_elements(?::jsonb) AS r"
        else:
            source = f"VALUES ({', '.join('?' * len(cols))})"
        sql = _UPSERT_SQL[cls, pg] = (
            f"INSERT INTO {cls.TABLE} ({', '.join(cols)}) {source}"
            f" ON CONFLICT ({', '.join(cls.KEY)}) DO "
            + (
                "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
                if updates
                else "NOTHING"
            )
        )
    return sql


# -- the cache and the overlay -----------------------------------------------------------------
_MISSING = object()


_DERIVED: dict[type, tuple[str, ...]] = {}
_TRANSIENT = frozenset(("trade_orders", "trade_shipments", "trade_invoices"))


def _cached_properties(cls: type) -> tuple[str, ...]:
    """Names of ``functools.cached_property`` attributes of a row class."""
    found = _DERIVED.get(cls)
    if found is None:
        found = _DERIVED[cls] = tuple(
            name
            for klass in cls.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, functools.cached_property)
        )
    return found


class StateCache:
    """Committed rows kept between submits, valid while the log has ``log_size`` leaves.

    ``rows[table][key]`` is a committed row or ``None`` (known absent). ``lists`` holds the
    secondary lookups (qualifications and keys by holder, batch by (product, lot)).
    """

    def __init__(self, max_rows: int = 500_000, transient_rows: int = 40_000) -> None:
        self.max_rows = max_rows
        self.transient_rows = transient_rows
        self.log_size = -1
        self.rows: dict[str, dict[Any, Any]] = defaultdict(dict)
        self.lists: dict[str, dict[Any, Any]] = defaultdict(dict)

    def clear(self) -> None:
        self.rows.clear()
        self.lists.clear()
        self.log_size = -1

    def size(self) -> int:
        return sum(len(t) for t in self.rows.values()) + sum(len(t) for t in self.lists.values())


class WorkingState:
    """What the rules see during one submit: committed state plus this batch's changes."""

    def __init__(self, tx: Transaction, cache: StateCache) -> None:
        self.tx = tx
        self.cache = cache
        self.changes: dict[str, dict[Any, Any]] = defaultdict(dict)
        self.list_changes: dict[str, dict[Any, Any]] = defaultdict(dict)
        self.appends: dict[str, list[Row]] = defaultdict(list)
        self.licence_memo: dict[Any, bool] = {}
        self.quals_changed = False

    # generic access
    def get(self, cls: type[R], key: Any) -> R | None:
        table = cls.TABLE
        changed = self.changes[table].get(key, _MISSING)
        if changed is not _MISSING:
            return changed  # type: ignore[no-any-return]
        cached = self.cache.rows[table].get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[no-any-return]
        row = load_row(self.tx, cls, key)
        self.cache.rows[table][key] = row
        return row

    def put(self, row: Row) -> None:
        self.changes[row.TABLE][row.key] = row

    def append(self, row: Row) -> None:
        """An insert-only row (nothing reads it back during a submit)."""
        self.appends[row.TABLE].append(row)

    def prefetch(self, cls: type[Row], keys: Iterable[Any]) -> None:
        """Load many single-column keys with a few ``IN`` queries (absent ones as None); on
        PostgreSQL one query, the keys as one jsonb array parameter (a plan that probes the
        key's index, prepared once, instead of an ``IN`` list planned per call)."""
        assert len(cls.KEY) == 1
        table = cls.TABLE
        cached = self.cache.rows[table]
        wanted = [k for k in dict.fromkeys(keys) if k not in cached]
        text_key = _kinds(cls)[cls.columns().index(cls.KEY[0])] == "str"
        if wanted and text_key and self.tx.dialect is POSTGRES:
            where = f"{cls.KEY[0]} = ANY(ARRAY(SELECT jsonb_array_elements_text(?::jsonb)))"
            for row in load_where(self.tx, cls, where, (orjson.dumps(wanted).decode(),)):
                cached[row.key] = row
            for k in wanted:
                cached.setdefault(k, None)
            return
        for row in load_in(self.tx, cls, cls.KEY[0], wanted):
            cached[row.key] = row
        for k in wanted:
            cached.setdefault(k, None)

    def prefetch_lots(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Resolve many (product, lot) pairs to batch ids with a few queries (PostgreSQL: one,
        the pairs as a jsonb parameter joined on the (product, lot) index; an ``OR`` of pairs
        was planned as a scan of every batch)."""
        known = self.cache.lists["lot"]
        wanted = [p for p in dict.fromkeys(pairs) if p not in known]
        if wanted and self.tx.dialect is POSTGRES:
            cols = ", ".join(f"b.{c}" for c in BatchRow.columns())
            sql = (
                f"SELECT {cols} FROM jsonb_array_elements(?::jsonb) AS x"
                " JOIN trade_batches AS b ON b.product = x->>0 AND b.lot = x->>1"
            )
            for found in self.tx.query(sql, (orjson.dumps(wanted).decode(),)):
                row = self._remember(_from_db(BatchRow, found))
                known[(row.product, row.lot)] = row.batch_id
            for p in wanted:
                known.setdefault(p, None)
            return
        for start in range(0, len(wanted), IN_LIST_CHUNK // 2):  # two values per pair
            chunk = wanted[start : start + IN_LIST_CHUNK // 2]
            where = " OR ".join("(product = ? AND lot = ?)" for _ in chunk)
            for row in load_where(self.tx, BatchRow, where, [v for p in chunk for v in p]):
                self._remember(row)
                known[(row.product, row.lot)] = row.batch_id
            for p in chunk:
                known.setdefault(p, None)

    def prefetch_escrow(self, keys: Iterable[str]) -> None:
        known = self.cache.lists["escrow"]
        wanted = [k for k in dict.fromkeys(keys) if k not in known]
        for row in load_in(self.tx, OrderRow, "escrow_key", wanted):
            self._remember(row)
            known[row.escrow_key] = row.order_id
        for k in wanted:
            known.setdefault(k, None)

    def _list(self, name: str, key: Any, load: Any) -> Any:
        changed = self.list_changes[name].get(key, _MISSING)
        if changed is not _MISSING:
            return changed
        cached = self.cache.lists[name].get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        value = load()
        self.cache.lists[name][key] = value
        return value

    # typed helpers the rules use
    def record(self, record_id: str) -> RecordRow | None:
        return self.get(RecordRow, record_id)

    def participant(self, uscc: str) -> ParticipantRow | None:
        return self.get(ParticipantRow, uscc)

    def key(self, key_id: str) -> KeyRow | None:
        return self.get(KeyRow, key_id)

    def product(self, code: str) -> ProductRow | None:
        return self.get(ProductRow, code)

    def batch(self, batch_id: str) -> BatchRow | None:
        return self.get(BatchRow, batch_id)

    def order(self, order_id: str) -> OrderRow | None:
        return self.get(OrderRow, order_id)

    def shipment(self, shipment_id: str) -> ShipmentRow | None:
        return self.get(ShipmentRow, shipment_id)

    def unit(self, code: str) -> UnitRow | None:
        return self.get(UnitRow, code)

    def stock(self, holder: str, batch_id: str) -> StockRow:
        key = (holder, batch_id)
        table = StockRow.TABLE
        if (
            key not in self.changes[table]
            and key not in self.cache.rows[table]
            and self._fresh(batch_id)
        ):
            return StockRow(holder, batch_id, 0, 0)  # every row of a fresh batch is known
        row = self.get(StockRow, key)
        return row if row is not None else StockRow(holder, batch_id, 0, 0)

    def _fresh(self, batch_id: str) -> bool:
        """Registered while this cache lived: all its stock rows passed through the cache."""
        return batch_id in self.list_changes["fresh"] or batch_id in self.cache.lists["fresh"]

    def qualifications(self, holder: str) -> tuple[QualRow, ...]:
        ids: tuple[str, ...] = self._list(
            "quals",
            holder,
            lambda: tuple(
                self._remember(r).record_id
                for r in load_where(self.tx, QualRow, "holder = ?", (holder,))
            ),
        )
        return tuple(row for rid in ids if (row := self.get(QualRow, rid)) is not None)

    def add_qualification(self, row: QualRow) -> None:
        ids = self.qualifications_ids(row.holder)
        self.put(row)
        self.list_changes["quals"][row.holder] = (*ids, row.record_id)

    def qualifications_ids(self, holder: str) -> tuple[str, ...]:
        return tuple(q.record_id for q in self.qualifications(holder))

    def batch_id_for(self, product: str, lot: str) -> str | None:
        found: str | None = self._list(
            "lot",
            (product, lot),
            lambda: next(
                (
                    self._remember(r).batch_id
                    for r in load_where(
                        self.tx, BatchRow, "product = ? AND lot = ?", (product, lot)
                    )
                ),
                None,
            ),
        )
        return found

    def add_batch(self, row: BatchRow) -> None:
        self.put(row)
        self.list_changes["lot"][(row.product, row.lot)] = row.batch_id
        self.list_changes["fresh"][row.batch_id] = True

    def order_for_escrow(self, escrow_key: str) -> str | None:
        found: str | None = self._list(
            "escrow",
            escrow_key,
            lambda: next(
                (
                    self._remember(r).order_id
                    for r in load_where(self.tx, OrderRow, "escrow_key = ?", (escrow_key,))
                ),
                None,
            ),
        )
        return found

    def add_order(self, row: OrderRow) -> None:
        self.put(row)
        if row.escrow_key is not None:
            self.list_changes["escrow"][row.escrow_key] = row.order_id

    # licence checks: memoized per (party, side, product profile, day) while no licence changes
    def licence_ok(self, key: Any) -> bool:
        if key in self.licence_memo:
            return True
        return not self.quals_changed and key in self.cache.lists["licence_ok"]

    def remember_licence_ok(self, key: Any) -> None:
        self.licence_memo[key] = True

    def qualifications_changed(self) -> None:
        self.quals_changed = True
        self.licence_memo.clear()

    def _remember(self, row: R) -> R:
        self.cache.rows[row.TABLE].setdefault(row.key, row)
        return row

    # writing
    def flush(self) -> None:
        """Write every change and append in this transaction (edges follow shipments).

        A row whose key is known absent from committed state (looked up and not found, or
        keyed by the id of a record this batch adds) is inserted; any other row is upserted.
        """
        groups: list[tuple[type[Row], list[Row], bool]] = []
        record_cache = self.cache.rows[RecordRow.TABLE]
        new_ids = {
            k
            for k in self.changes.get(RecordRow.TABLE, ())
            if record_cache.get(k, _MISSING) is None
        }
        new_shipments: list[ShipmentRow] = []
        old_shipments: list[ShipmentRow] = []
        for table, rows in self.changes.items():
            if not rows:
                continue
            cached = self.cache.rows[table]
            by_id = table in _RECORD_KEYED
            inserts: list[Row] = []
            upserts: list[Row] = []
            for key, row in rows.items():
                before = cached.get(key, _MISSING)
                if before is None or (before is _MISSING and by_id and key in new_ids):
                    inserts.append(row)
                else:
                    upserts.append(row)
            cls = TABLES[table]
            groups += [(cls, inserts, True), (cls, upserts, False)]
            if cls is ShipmentRow:
                new_shipments, old_shipments = inserts, upserts  # type: ignore[assignment]
        groups += [
            (EdgeRow, [e for s in new_shipments for e in s.edges()], True),
            (EdgeRow, [e for s in old_shipments for e in s.edges()], False),
        ]
        for table, appended in self.appends.items():
            # by key, the last one wins (one PostgreSQL statement takes a key once)
            groups.append((TABLES[table], list({r.key: r for r in appended}.values()), False))
        write_rows(self.tx, [g for g in groups if g[1]])

    def commit_to_cache(self, log_size: int) -> None:
        """After the transaction committed: the overlay becomes committed state. Record rows
        leave the cache (one per record, looked up again only by corrections; each batch's
        replay check is one prefetch query), so it holds the rows the rules reuse longer."""
        for table, rows in self.changes.items():
            cached = self.cache.rows[table]
            if table == RecordRow.TABLE:
                for key in rows:
                    cached.pop(key, None)
                continue
            derived = _cached_properties(TABLES[table])
            if derived:  # parsed lines and terms: computed again if used, not kept for the GC
                for row in rows.values():
                    for name in derived:
                        row.__dict__.pop(name, None)
            cached.update(rows)
            if table in _TRANSIENT and len(cached) > self.cache.transient_rows:
                # orders, shipments and invoices are looked up again within a few batches of
                # their last change, rarely later: drop the earliest-cached half (a miss only
                # costs a read), which keeps the collector's work and the cache small
                for key in list(itertools.islice(cached, len(cached) // 2)):
                    del cached[key]
        for name, values in self.list_changes.items():
            self.cache.lists[name].update(values)
        if self.quals_changed:
            self.cache.lists["licence_ok"].clear()
        self.cache.lists["licence_ok"].update(self.licence_memo)
        self.cache.log_size = log_size
