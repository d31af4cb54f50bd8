"""EPCIS 2.0 export: the trade records of a batch, or of a range of the log, as one
GS1 EPCIS 2.0 JSON-LD document (``application/ld+json``; mapping in docs/epcis.md).

Who may export what follows the rule for reading records: auditors and regulators export
everything; a participant exports only the records it is party to (the others are left
out, as if absent). A batch export asked for by a participant party to none of its records
is refused (403). The document is deterministic: the same selection, read by the same
caller, gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import Principal
from api.deps import PrincipalDep, ServiceDep
from api.errors import PermissionDeniedError
from api.routes.trace import Batch as BatchQuery
from api.routes.trace import Lot
from api.routes.trace import Product as ProductQuery
from api.schemas import ERROR_RESPONSES
from api.service import LedgerService
from ledger.errors import MalformedInputError, NotFoundError
from ledger.records import SignedRecord
from ledger.storage.db import Transaction
from ledger.trade.bodies import Batch, Product, parse_body
from ledger.trade.epcis import LedgerEntry, epcis_bytes, export_epcis
from ledger.trade.state import (
    BatchRow,
    EdgeRow,
    InvoiceRow,
    ProductRow,
    RecallRow,
    RecordRow,
    load_in,
    load_row,
    load_where,
)

MEDIA_TYPE = "application/ld+json"
MAX_RANGE = 10_000
"""Most leaves one range export reads; page through a larger log with from/to."""

router = APIRouter(prefix="/v1", tags=["epcis"], responses=ERROR_RESPONSES)


class LedgerResolver:
    """The export's look-ups (referenced records, products, lots) in one read transaction."""

    def __init__(self, service: LedgerService, tx: Transaction) -> None:
        self.service = service
        self.tx = tx
        self._records: dict[str, LedgerEntry | None] = {}
        self._products: dict[str, Product | None] = {}
        self._batches: dict[tuple[str, str], Batch | None] = {}

    def remember(self, entry: LedgerEntry) -> None:
        self._records[entry.record_id] = entry

    def record(self, record_id: str) -> LedgerEntry | None:
        if record_id not in self._records:
            row = load_row(self.tx, RecordRow, record_id)
            self._records[record_id] = (
                None if row is None else self.entries([row.leaf_index]).get(row.leaf_index)
            )
        return self._records[record_id]

    def entries(self, indices: list[int]) -> dict[int, LedgerEntry]:
        out: dict[int, LedgerEntry] = {}
        for index, stored in self.service.log.entries_at(indices, self.tx).items():
            if stored.record is None:
                continue
            entry = LedgerEntry(index, SignedRecord.from_json(stored.record), stored.leaf_hash)
            out[index] = self._records[entry.record_id] = entry
        return out

    def product(self, code: str) -> Product | None:
        if code not in self._products:
            row = load_row(self.tx, ProductRow, code)
            entry = None if row is None else self.record(row.record_id)
            body = None if entry is None else parse_body("product", entry.signed.record.body)
            self._products[code] = body if isinstance(body, Product) else None
        return self._products[code]

    def batch(self, product: str, lot: str) -> Batch | None:
        key = (product, lot)
        if key not in self._batches:
            rows = load_where(self.tx, BatchRow, "product = ? AND lot = ?", (product, lot))
            entry = self.record(rows[0].batch_id) if rows else None
            body = None if entry is None else parse_body("batch", entry.signed.record.body)
            self._batches[key] = body if isinstance(body, Batch) else None
        return self._batches[key]


def _batch_record_ids(tx: Transaction, row: BatchRow) -> set[str]:
    """Every record about one batch: its registration, the shipments and returns that moved
    it, their acceptances and orders, the orders' invoices, recalls naming the lot, and the
    corrections of any of these."""
    ids = {row.batch_id}
    orders: set[str] = set()
    for edge in load_where(tx, EdgeRow, "batch_id = ?", (row.batch_id,)):
        ids.add(edge.shipment_id)
        orders.add(edge.order_id)
        if edge.acceptance_id:
            ids.add(edge.acceptance_id)
    ids |= orders
    ids |= {inv.invoice_id for inv in load_in(tx, InvoiceRow, "order_id", sorted(orders))}
    for recall in load_where(tx, RecallRow, "product = ?", (row.product,)):
        if row.lot in recall.lots.split(","):
            ids.add(recall.recall_id)
    ids |= {
        rec.superseded_by
        for rec in load_in(tx, RecordRow, "record_id", sorted(ids))
        if rec.superseded_by
    }
    return ids


def _leaf_indices(tx: Transaction, record_ids: set[str]) -> list[int]:
    return sorted(r.leaf_index for r in load_in(tx, RecordRow, "record_id", sorted(record_ids)))


def export_document(  # noqa: PLR0917 - mirrors the query parameters
    service: LedgerService,
    principal: Principal,
    batch: str | None = None,
    product: str | None = None,
    lot: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> bytes:
    """The EPCIS document of a batch (``batch``, or ``product`` and ``lot``) or of the leaves
    ``[start, end)``, as the bytes served; ``principal`` decides which records it holds."""
    by_batch = batch is not None or product is not None or lot is not None
    by_range = start is not None or end is not None
    if by_batch == by_range:
        raise MalformedInputError(
            "name either a batch (batch=<id>, or product and lot) or a range (from and to)"
        )
    if by_batch and batch is None and (product is None or lot is None):
        raise MalformedInputError("a batch by lot needs both product and lot")
    if by_batch and batch is not None and (product is not None or lot is not None):
        raise MalformedInputError("name the batch by its id or by product and lot, not both")
    with service.db.read() as tx:
        resolver = LedgerResolver(service, tx)
        if by_batch:
            row = (
                load_row(tx, BatchRow, batch)
                if batch is not None
                else next(
                    iter(load_where(tx, BatchRow, "product = ? AND lot = ?", (product, lot))),
                    None,
                )
            )
            if row is None:
                what = batch if batch is not None else f"lot {lot} of product {product}"
                raise NotFoundError(f"no batch {what}")
            batch_id = row.batch_id
            entries = list(resolver.entries(_leaf_indices(tx, _batch_record_ids(tx, row))).values())
        else:
            if start is None or end is None:
                raise MalformedInputError("a range needs both from and to")
            size = service.log.size(tx)
            if not 0 <= start < end:
                raise MalformedInputError(f"want 0 <= from < to, got from={start} to={end}")
            if end - start > MAX_RANGE:
                raise MalformedInputError(
                    f"a range export holds at most {MAX_RANGE} leaves, got {end - start}; "
                    "page with from/to"
                )
            if end > size:
                raise NotFoundError(f"to={end} is beyond the log's {size} leaves")
            entries = list(resolver.entries(list(range(start, end))).values())
        entries.sort(key=lambda e: e.leaf_index)
        if not principal.reads_everything:
            visible = [e for e in entries if service.may_read(tx, principal, e.signed)]
            if by_batch and not visible:
                raise PermissionDeniedError(
                    f"{principal.actor} is party to no record of batch {batch_id}"
                )
            entries = visible
        # Deterministic for the same selection: the latest time among the records exported
        # (only those the caller may read, so no hidden record's time shows through). A range
        # holding nothing the caller may read is an empty document created now.
        created = max((e.signed.record.time for e in entries), default=None)
        if created is None:
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = export_epcis(entries, resolver, creation_date=created)
    return epcis_bytes(document)


@router.get(
    "/epcis",
    response_class=Response,
    summary="Export a batch's records, or a range of the log, as GS1 EPCIS 2.0 JSON-LD",
    responses={200: {"content": {MEDIA_TYPE: {"schema": {"type": "object"}}}}},
)
def export(  # noqa: PLR0917 - FastAPI query parameters
    service: ServiceDep,
    principal: PrincipalDep,
    batch: BatchQuery = None,
    product: ProductQuery = None,
    lot: Lot = None,
    start: Annotated[
        int | None, Query(alias="from", ge=0, description="first leaf index (inclusive)")
    ] = None,
    end: Annotated[
        int | None, Query(alias="to", ge=1, description="last leaf index (exclusive)")
    ] = None,
) -> Response:
    """An ``EPCISDocument`` (EPCIS 2.0, CBV 2.0) of the records the caller may read: the
    batch's registration, orders, shipments (with cold-chain sensor data), acceptances,
    returns, invoices, recalls and corrections, or every trade record in leaves
    ``[from, to)``. Each event carries ``lotproof:leafIndex`` and ``lotproof:recordId``
    for its inclusion proof (``GET /v1/records/{id}``)."""
    body = export_document(service, principal, batch, product, lot, start, end)
    return Response(body, media_type=MEDIA_TYPE)
