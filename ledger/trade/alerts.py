"""Alerts a compliance officer watches: licences about to expire, lots near expiry at each
holder, shipments with temperature excursions, paths that break the two-invoice rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ledger.storage.db import Transaction
from ledger.trade import codes
from ledger.trade.state import EdgeRow, ParticipantRow, QualRow, ShipmentRow, load_where
from ledger.trade.trace import TwoInvoiceCheck, TwoInvoicePolicy, two_invoice_check

LICENCE_WARNING_DAYS = 30
LOT_WARNING_DAYS = 90


@dataclass(frozen=True)
class LicenceAlert:
    holder: str
    name: str
    kind: str
    kind_zh: str
    number: str
    valid_to: str
    days_left: int
    record_id: str

    @property
    def message(self) -> str:
        return (
            f"QUAL-EXPIRING: {self.kind_zh} {self.number} of {self.name} expires on"
            f" {self.valid_to} ({self.days_left} days)"
        )


@dataclass(frozen=True)
class LotAlert:
    holder: str
    name: str
    batch_id: str
    product: str
    lot: str
    expiry_date: str
    days_left: int
    on_hand: int


@dataclass(frozen=True)
class ExcursionAlert:
    shipment_id: str
    shipper: str
    consignee: str
    shipped_at: str
    status: str
    temperature: str | None


@dataclass(frozen=True)
class Alerts:
    licences: tuple[LicenceAlert, ...]
    lots: tuple[LotAlert, ...]
    excursions: tuple[ExcursionAlert, ...]
    two_invoice: tuple[TwoInvoiceCheck, ...]


def expiring_licences(
    tx: Transaction, today: date, within_days: int = LICENCE_WARNING_DAYS
) -> list[LicenceAlert]:
    """Approved, unwithdrawn licences whose ``valid_to`` falls in [today, today + days]."""
    until = today + timedelta(days=within_days)
    quals = load_where(
        tx,
        QualRow,
        "valid_to >= ? AND valid_to <= ? AND verdict = 'approved'"
        " AND withdrawn_by IS NULL ORDER BY valid_to, holder",
        (today.isoformat(), until.isoformat()),
    )
    names = _names(tx, {q.holder for q in quals})
    return [
        LicenceAlert(
            q.holder,
            names.get(q.holder, ""),
            q.kind,
            codes.LICENCE_NAMES_ZH.get(q.kind, q.kind),
            q.number,
            q.valid_to or "",
            ((q.to_date or today) - today).days,
            q.record_id,
        )
        for q in quals
    ]


def near_expiry_stock(
    tx: Transaction, today: date, within_days: int = LOT_WARNING_DAYS
) -> list[LotAlert]:
    """Stock on hand of lots that expire within ``within_days`` (or already expired)."""
    until = (today + timedelta(days=within_days)).isoformat()
    rows = tx.query(
        "SELECT s.holder, b.batch_id, b.product, b.lot, b.expiry_date,"
        " s.received - s.shipped FROM trade_batches b"
        " JOIN trade_stock s ON s.batch_id = b.batch_id"
        " WHERE b.expiry_date <= ? AND s.received > s.shipped"
        " ORDER BY b.expiry_date, s.holder",
        (until,),
    )
    names = _names(tx, {r[0] for r in rows})
    return [
        LotAlert(
            r[0],
            names.get(r[0], ""),
            r[1],
            r[2],
            r[3],
            r[4],
            (date.fromisoformat(r[4]) - today).days,
            int(r[5]),
        )
        for r in rows
    ]


def excursions(tx: Transaction, since: str | None = None) -> list[ExcursionAlert]:
    """Shipments whose temperature log records an excursion or left a product's range."""
    where = "excursion = 1" + (" AND shipped_at >= ?" if since else "")
    rows = load_where(tx, ShipmentRow, where + " ORDER BY shipped_at", (since,) if since else ())
    return [
        ExcursionAlert(s.shipment_id, s.shipper, s.consignee, s.shipped_at, s.status, s.temperature)
        for s in rows
    ]


def two_invoice_breaks(
    tx: Transaction,
    policy: TwoInvoicePolicy | None = None,
    limit: int = 1000,
    *,
    batch_id: str | None = None,
    since_leaf: int = 0,
) -> list[TwoInvoiceCheck]:
    """Every (public hospital, batch) whose supply path breaks the two-invoice rule, among
    deliveries accepted at or after leaf ``since_leaf`` (optionally of one batch)."""
    policy = policy or TwoInvoicePolicy()
    if not policy.enabled:
        return []
    hospitals = {
        p.uscc
        for p in load_where(tx, ParticipantRow, "public = 1 AND roles LIKE ?", ("%hospital%",))
    }
    where = "kind = 'sale' AND status = 'accepted' AND accepted > 0 AND acceptance_leaf >= ?"
    params: list[object] = [since_leaf]
    if batch_id is not None:
        where += " AND batch_id = ?"
        params.append(batch_id)
    pairs: dict[tuple[str, str], None] = {}
    for e in load_where(tx, EdgeRow, where + " ORDER BY acceptance_leaf", params):
        if e.to_holder in hospitals:
            pairs[(e.to_holder, e.batch_id)] = None
    out = []
    for holder, batch in pairs:
        check = two_invoice_check(tx, holder, batch, policy)
        if not check.compliant:
            out.append(check)
            if len(out) >= limit:
                break
    return out


def all_alerts(tx: Transaction, today: date, policy: TwoInvoicePolicy | None = None) -> Alerts:
    return Alerts(
        tuple(expiring_licences(tx, today)),
        tuple(near_expiry_stock(tx, today)),
        tuple(excursions(tx)),
        tuple(two_invoice_breaks(tx, policy)),
    )


def _names(tx: Transaction, usccs: set[str]) -> dict[str, str]:
    wanted = sorted(usccs)
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for p in load_where(tx, ParticipantRow, f"uscc IN ({marks})", chunk):
            out[p.uscc] = p.name
    return out
