"""Forward trace (正向追踪), reverse trace (反向溯源) and the two-invoice rule (两票制).

Every answer lists the records it rests on (record ids and leaf indices, ready for inclusion
proofs) and the path structure: each ``Step`` names the records it follows. Shipment edges
come from ``trade_edges`` (indexed by batch), stock from ``trade_stock``; one query each, so a
batch that reached a thousand holders traces in milliseconds.

Which receipt a shipment "follows": lots are fungible inside a holder's stock, so a shipment
of a batch by H follows every receipt of that batch by H (its registration, acceptances,
returns to H) recorded at or before the shipment's time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from ledger.errors import NotFoundError
from ledger.records import parse_time
from ledger.storage.db import Transaction
from ledger.trade import codes
from ledger.trade.rules import CHINA_STANDARD_TIME
from ledger.trade.state import (
    BatchRow,
    InvoiceRow,
    ParticipantRow,
    ProductRow,
    QualRow,
    RecallRow,
    RecordRow,
    StockRow,
    UnitRow,
    load_in,
    load_row,
    load_where,
)


class Step(NamedTuple):
    """One record on a trace and the records it follows (its parents)."""

    record_id: str
    leaf_index: int
    type: str  # batch | shipment | acceptance | return
    actor: str
    time: str
    follows: tuple[str, ...] = ()
    from_holder: str | None = None
    to_holder: str | None = None
    quantity: int = 0


class Holding(NamedTuple):
    holder: str
    name: str
    roles: tuple[str, ...]
    received: int
    shipped: int
    on_hand: int
    in_transit_in: int = 0
    in_transit_out: int = 0


class Notice(NamedTuple):
    """Who must be told of a recall, and why."""

    uscc: str
    name: str
    reason: str  # holds_stock | in_transit_to | in_transit_from | carrier
    quantity: int


@dataclass(frozen=True)
class RecallScope:
    level: str | None
    notify_within_hours: int | None
    holders_with_stock: tuple[str, ...]
    in_transit: tuple[str, ...]  # shipment ids
    notify: tuple[Notice, ...]
    quantity_at_risk: int


@dataclass(frozen=True)
class ForwardTrace:
    batch: BatchRow
    product: ProductRow | None
    holders: tuple[Holding, ...]
    steps: tuple[Step, ...]
    in_transit: tuple[Edge, ...]
    recall_scope: RecallScope

    @property
    def record_ids(self) -> list[str]:
        return [s.record_id for s in self.steps]

    @property
    def leaf_indices(self) -> list[int]:
        return sorted({s.leaf_index for s in self.steps})


class LicenceOnDay(NamedTuple):
    record_id: str
    leaf_index: int | None
    kind: str
    number: str
    scope: tuple[str, ...]
    valid_from: str
    valid_to: str | None
    valid_that_day: bool
    withdrawn_by: str | None


@dataclass(frozen=True)
class PartyOnDay:
    uscc: str
    name: str
    day: str
    licences: tuple[LicenceOnDay, ...]


@dataclass(frozen=True)
class ReverseTrace:
    holder: str
    batch: BatchRow
    product: ProductRow | None
    on_hand: int
    steps: tuple[Step, ...]  # from the batch registration to the holder, in log order
    edges: tuple[Edge, ...]
    parties: tuple[PartyOnDay, ...]
    unit_code: str | None = None

    @property
    def record_ids(self) -> list[str]:
        return [s.record_id for s in self.steps] + [
            lic.record_id for p in self.parties for lic in p.licences
        ]

    @property
    def leaf_indices(self) -> list[int]:
        found = {s.leaf_index for s in self.steps}
        found |= {
            lic.leaf_index for p in self.parties for lic in p.licences if lic.leaf_index is not None
        }
        return sorted(found)


class Edge(NamedTuple):
    """One line of a shipment (or return) of the batch: a trace edge."""

    shipment_id: str
    line: int
    kind: str
    from_holder: str
    to_holder: str
    order_id: str
    quantity: int
    accepted: int
    status: str
    shipped_at: str
    accepted_at: str | None
    shipment_leaf: int
    acceptance_id: str | None
    acceptance_leaf: int | None
    excursion: int


EDGE_SQL = (
    "SELECT " + ", ".join(Edge._fields) + " FROM trade_edges WHERE batch_id = ?"
    " ORDER BY shipment_leaf, line"
)


def edges_of(tx: Transaction, batch_id: str) -> list[Edge]:
    """Every trace edge of a batch, in log order (one indexed query)."""
    return [Edge(*row) for row in tx.query(EDGE_SQL, (batch_id,))]


def _batch(tx: Transaction, batch_id: str) -> BatchRow:
    batch = load_row(tx, BatchRow, batch_id)
    if batch is None:
        raise NotFoundError(f"no batch {batch_id!r}")
    return batch


def _names_roles(tx: Transaction, usccs: Iterable[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    rows = tx.query_in(
        "SELECT uscc, name, roles FROM trade_participants WHERE uscc IN ({in})",
        sorted(set(usccs)),
    )
    return {uscc: (name, tuple(sorted(roles.split(",")))) for uscc, name, roles in rows}


def _participants(tx: Transaction, usccs: Iterable[str]) -> dict[str, ParticipantRow]:
    return {p.uscc: p for p in load_in(tx, ParticipantRow, "uscc", sorted(set(usccs)))}


def _batch_step(batch: BatchRow) -> Step:
    return Step(
        batch.batch_id,
        batch.batch_leaf,
        "batch",
        batch.registrant,
        batch.registered_at,
        (),
        None,
        batch.registrant,
        batch.quantity,
    )


def _edge_steps(edges: list[Edge], batch: BatchRow) -> list[Step]:
    """Shipment and acceptance steps, with each shipment following its shipper's receipts."""
    receipts: dict[str, list[tuple[str, str]]] = defaultdict(list)  # holder -> (time, record)
    receipts[batch.registrant].append((batch.registered_at, batch.batch_id))
    for e in edges:
        if e.accepted_at is not None and e.acceptance_id is not None and e.accepted > 0:
            receipts[e.to_holder].append((e.accepted_at, e.acceptance_id))
    for lst in receipts.values():
        lst.sort()
    groups: dict[str, list[Edge]] = {}
    for e in edges:
        groups.setdefault(e.shipment_id, []).append(e)
    steps: list[Step] = []
    for sid, group in groups.items():
        e = group[0]
        quantity = sum(x.quantity for x in group)
        follows = tuple(
            rid for t, rid in receipts.get(e.from_holder, ()) if t <= e.shipped_at and rid != sid
        )
        kind = "return" if e.kind == "return" else "shipment"
        steps.append(
            Step(
                sid,
                e.shipment_leaf,
                kind,
                e.from_holder,
                e.shipped_at,
                follows,
                e.from_holder,
                e.to_holder,
                quantity,
            )
        )
        if kind == "shipment" and e.acceptance_id is not None and e.acceptance_leaf is not None:
            steps.append(
                Step(
                    e.acceptance_id,
                    e.acceptance_leaf,
                    "acceptance",
                    e.to_holder,
                    e.accepted_at or e.shipped_at,
                    (sid,),
                    e.from_holder,
                    e.to_holder,
                    sum(x.accepted for x in group),
                )
            )
    return steps


def forward(tx: Transaction, batch_id: str) -> ForwardTrace:
    """Every holder the batch reached, the shipments in transit, and the recall scope."""
    batch = _batch(tx, batch_id)
    product = load_row(tx, ProductRow, batch.product)
    edges = edges_of(tx, batch_id)
    stock = {
        holder: (received, shipped)
        for holder, received, shipped in tx.query(
            "SELECT holder, received, shipped FROM trade_stock WHERE batch_id = ?", (batch_id,)
        )
    }
    live_edges = [e for e in edges if e.status != "cancelled"]
    transit = [e for e in live_edges if e.status == "in_transit"]
    in_in: dict[str, int] = defaultdict(int)
    in_out: dict[str, int] = defaultdict(int)
    for e in transit:
        in_in[e.to_holder] += e.quantity
        in_out[e.from_holder] += e.quantity
    holders_ids = set(stock) | set(in_in)
    parties = _names_roles(tx, holders_ids | {e.from_holder for e in transit})
    holders = []
    for h in sorted(holders_ids):
        received, shipped = stock.get(h, (0, 0))
        name, roles = parties.get(h, ("", ()))
        holders.append(
            Holding(
                h,
                name,
                roles,
                received,
                shipped,
                received - shipped,
                in_in.get(h, 0),
                in_out.get(h, 0),
            )
        )
    steps = [_batch_step(batch), *_edge_steps(live_edges, batch)]
    notify: list[Notice] = []
    for holding in holders:
        if holding.on_hand > 0:
            notify.append(Notice(holding.holder, holding.name, "holds_stock", holding.on_hand))
    for e in transit:
        for who, why in ((e.to_holder, "in_transit_to"), (e.from_holder, "in_transit_from")):
            notify.append(Notice(who, parties.get(who, ("", ()))[0], why, e.quantity))
    level = batch.recall_level
    scope = RecallScope(
        level=level,
        notify_within_hours=codes.RECALL_LEVELS.get(level) if level else None,
        holders_with_stock=tuple(h.holder for h in holders if h.on_hand > 0),
        in_transit=tuple(dict.fromkeys(e.shipment_id for e in transit)),
        notify=tuple(notify),
        quantity_at_risk=sum(h.on_hand for h in holders) + sum(e.quantity for e in transit),
    )
    return ForwardTrace(batch, product, tuple(holders), tuple(steps), tuple(transit), scope)


def _licences_on(tx: Transaction, usccs: Iterable[str], days: dict[str, date]) -> list[PartyOnDay]:
    wanted = sorted(set(usccs))
    if not wanted:
        return []
    parties = _participants(tx, wanted)
    quals = sorted(load_in(tx, QualRow, "holder", wanted), key=lambda q: q.recorded_at)
    named = {q.record_id for q in quals} | {q.withdrawn_by for q in quals if q.withdrawn_by}
    records = {r.record_id: r for r in load_in(tx, RecordRow, "record_id", sorted(named))}

    def valid_that_day(q: QualRow, day: date) -> bool:
        """Approved, in force that day, and not yet withdrawn (a withdrawal counts from its
        own trade day on, as the rules count it)."""
        withdrawal = records.get(q.withdrawn_by) if q.withdrawn_by else None
        return (
            q.verdict == "approved"
            and q.valid_on(day)
            and (withdrawal is None or _day(withdrawal.time) > day)
        )

    out = []
    for u in wanted:
        day = days[u]
        lic = tuple(
            LicenceOnDay(
                q.record_id,
                records[q.record_id].leaf_index if q.record_id in records else None,
                q.kind,
                q.number,
                tuple(sorted(q.scope_set)),
                q.valid_from,
                q.valid_to,
                valid_that_day(q, day),
                q.withdrawn_by,
            )
            for q in quals
            # known by that (China Standard Time) day, as the trade day is
            if q.holder == u and q.from_date <= day and _day(q.recorded_at) <= day
        )
        p = parties.get(u)
        out.append(PartyOnDay(u, p.name if p else "", day.isoformat(), lic))
    return out


def _day(time: str) -> date:
    return parse_time(time).astimezone(CHINA_STANDARD_TIME).date()


_LATEST = "\uffff"  # after every ISO time: no bound


def _fed_by(e: Edge, before: str) -> bool:
    """Whether the receipt ``e`` was accepted by ``before`` (an onward shipment's time), so
    it can have supplied that shipment."""
    return (e.accepted_at or _LATEST) <= before


def _inbound_sales(edges: Iterable[Edge]) -> dict[str, list[Edge]]:
    """Accepted sales of the batch, by the holder that received them."""
    inbound: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        if e.kind == "sale" and e.accepted > 0 and e.status == "accepted":
            inbound[e.to_holder].append(e)
    return inbound


def _sources(inbound: Mapping[str, list[Edge]], holder: str) -> list[Edge]:
    """The sales that can have supplied ``holder``'s goods: its receipts, then, going
    upstream, each supplier's receipts accepted no later than the latest shipment of it on
    the way (a receipt after a holder shipped did not feed that shipment)."""
    bound = {holder: _LATEST}  # per holder: the latest time its goods left on the way
    chosen: set[Edge] = set()
    work = [holder]
    while work:
        h = work.pop()
        for e in inbound.get(h, ()):
            if e in chosen or not _fed_by(e, bound[h]):
                continue
            chosen.add(e)
            if e.shipped_at > bound.get(e.from_holder, ""):
                bound[e.from_holder] = e.shipped_at
                work.append(e.from_holder)
    return sorted(chosen, key=lambda e: (e.shipment_leaf, e.line))


def _reverse_from(
    tx: Transaction, batch: BatchRow, holder: str, edges: list[Edge], unit: str | None
) -> ReverseTrace:
    path = _sources(_inbound_sales(edges), holder)
    steps = [_batch_step(batch), *_edge_steps(path, batch)]
    days: dict[str, date] = {batch.registrant: _day(batch.registered_at)}
    for e in path:
        d = _day(e.shipped_at)
        for u in (e.from_holder, e.to_holder):
            days[u] = max(days.get(u, d), d) if u in days else d
    parties = _licences_on(tx, days.keys(), days)
    stock = load_row(tx, StockRow, (holder, batch.batch_id))
    return ReverseTrace(
        holder,
        batch,
        load_row(tx, ProductRow, batch.product),
        0 if stock is None else stock.on_hand,
        tuple(steps),
        tuple(path),
        tuple(parties),
        unit,
    )


def reverse(tx: Transaction, holder: str, batch_id: str) -> ReverseTrace:
    """The chain of shipments and acceptances from the batch registration to ``holder``."""
    batch = _batch(tx, batch_id)
    edges = edges_of(tx, batch_id)
    if holder != batch.registrant and not any(e.to_holder == holder for e in edges):
        raise NotFoundError(f"{holder} never received batch {batch_id}")
    return _reverse_from(tx, batch, holder, edges, None)


def reverse_unit(tx: Transaction, code: str) -> ReverseTrace:
    """The path of one traceability code: only the moves that carried it."""
    unit = load_row(tx, UnitRow, code)
    if unit is None:
        raise NotFoundError(f"no traceability code {code!r}")
    batch = _batch(tx, unit.batch_id)
    # An acceptance also records the units it rejected (back to the shipper): a sale carried
    # the unit only when its acceptance moved the unit to the sale's consignee.
    moves = {
        (row[0], row[1])
        for row in tx.query(
            "SELECT record_id, to_holder FROM trade_unit_events WHERE code = ?", (code,)
        )
    }
    edges = [e for e in edges_of(tx, unit.batch_id) if (e.acceptance_id, e.to_holder) in moves]
    return _reverse_from(tx, batch, unit.holder, edges, code)


# -- two-invoice rule ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TwoInvoicePolicy:
    """两票制: manufacturer → (distributor →) public hospital, at most ``max_invoices``.

    A hop from the registrant to a participant flagged ``deemed_manufacturer`` (the group's
    sole sales company, the sole importer agent) does not count, once per path. A public
    hospital whose region code starts with one of ``remote_regions`` may have
    ``remote_extra`` more (the approved extra hop in remote areas).
    """

    enabled: bool = True
    max_invoices: int = 2
    deemed_manufacturer_kinds: frozenset[str] = codes.DEEMED_MANUFACTURER_KINDS
    remote_regions: frozenset[str] = frozenset()
    remote_extra: int = 1


class Hop(NamedTuple):
    shipment_id: str
    seller: str
    buyer: str
    counted: bool
    invoices: tuple[str, ...]


@dataclass(frozen=True)
class PathCheck:
    hops: tuple[Hop, ...]
    counted: int
    allowed: int

    @property
    def compliant(self) -> bool:
        return self.counted <= self.allowed


@dataclass(frozen=True)
class TwoInvoiceCheck:
    holder: str
    batch_id: str
    applies: bool
    paths: tuple[PathCheck, ...] = field(default=())
    truncated: bool = False

    @property
    def compliant(self) -> bool:
        """Every path within the limit; a search cut short is never called compliant."""
        return not self.applies or (not self.truncated and all(p.compliant for p in self.paths))

    @property
    def message(self) -> str:
        bad = [p for p in self.paths if not p.compliant]
        if not bad and self.truncated:
            return (
                f"TWO-INVOICE-INCOMPLETE: more than {MAX_PATHS} supply paths to {self.holder}"
                f" for batch {self.batch_id}; the check did not finish"
            )
        if not bad:
            return "compliant" if self.applies else "not a public hospital: rule does not apply"
        p = bad[0]
        chain = " → ".join([p.hops[0].seller, *(h.buyer for h in p.hops)])
        return (
            f"TWO-INVOICE: {p.counted} invoices on {chain}, at most {p.allowed}"
            f" for batch {self.batch_id}"
        )


MAX_PATHS = 1000


def two_invoice_check(
    tx: Transaction, holder: str, batch_id: str, policy: TwoInvoicePolicy | None = None
) -> TwoInvoiceCheck:
    policy = policy or TwoInvoicePolicy()
    hospital = load_row(tx, ParticipantRow, holder)
    if hospital is None:
        raise NotFoundError(f"no participant {holder!r}")
    if not policy.enabled or not hospital.public_hospital:
        return TwoInvoiceCheck(holder, batch_id, False)
    batch = _batch(tx, batch_id)
    inbound = _inbound_sales(edges_of(tx, batch_id))
    allowed = policy.max_invoices + (
        policy.remote_extra
        if any(hospital.region.startswith(r) for r in policy.remote_regions)
        else 0
    )
    paths: list[list[Edge]] = []
    truncated = False

    def walk(h: str, acc: list[Edge], visiting: frozenset[str], before: str) -> None:
        """Paths of distinct holders from the registrant to ``h``. Of the sales from one
        supplier to ``h`` accepted by ``before`` (when ``h`` shipped on), the one shipped last
        stands for them all: the invoice count depends only on the holders, and the latest
        shipment leaves the supplier the most receipts that can have fed it."""
        nonlocal truncated
        if len(paths) >= MAX_PATHS:
            truncated = True
            return
        if h == batch.registrant:
            paths.append(list(reversed(acc)))
            return
        latest: dict[str, Edge] = {}
        for e in inbound.get(h, ()):
            if not _fed_by(e, before) or e.from_holder in visiting:
                continue
            kept = latest.get(e.from_holder)
            if kept is None or e.shipped_at > kept.shipped_at:
                latest[e.from_holder] = e
        for supplier, e in latest.items():
            walk(supplier, [*acc, e], visiting | {supplier}, e.shipped_at)

    walk(holder, [], frozenset({holder}), _LATEST)
    on_paths = {e for path in paths for e in path}  # only these parties and orders matter
    parties = _participants(tx, {e.to_holder for e in on_paths})
    orders = sorted({e.order_id for e in on_paths})
    invoices: dict[str, list[str]] = defaultdict(list)
    for inv in load_in(tx, InvoiceRow, "order_id", orders):
        if inv.voided_by is None and inv.order_id is not None:
            invoices[inv.order_id].append(inv.invoice_id)
    checks = []
    for path in paths:
        hops = []
        exempted = False
        for i, e in enumerate(path):
            buyer = parties.get(e.to_holder)
            deemed = (
                i == 0
                and not exempted
                and buyer is not None
                and buyer.deemed_manufacturer in policy.deemed_manufacturer_kinds
            )
            exempted = exempted or deemed
            hops.append(
                Hop(
                    e.shipment_id,
                    e.from_holder,
                    e.to_holder,
                    not deemed,
                    tuple(invoices.get(e.order_id, ())),
                )
            )
        checks.append(PathCheck(tuple(hops), sum(h.counted for h in hops), allowed))
    return TwoInvoiceCheck(holder, batch_id, True, tuple(checks), truncated)


def recalls(tx: Transaction, product: str) -> list[RecallRow]:
    return load_where(tx, RecallRow, "product = ? ORDER BY issued_at", (product,))


_PLAIN_JSON = frozenset({str, int, bool, type(None)})


def trace_to_json(value: Any) -> Any:
    """Dataclass trees as JSON-ready values (bytes as hex)."""
    plain = _PLAIN_JSON
    if hasattr(value, "_asdict"):  # the NamedTuple answers: Step, Holding, Edge, ...
        # Most fields are strings and numbers: copy those without a call per field.
        return {
            k: v if type(v) in plain else trace_to_json(v)
            for k, v in zip(value._fields, value, strict=True)
        }
    if isinstance(value, list | tuple):
        return [v if type(v) in plain else trace_to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "__dataclass_fields__"):
        out = {k: trace_to_json(getattr(value, k)) for k in value.__dataclass_fields__}
        if isinstance(value, ForwardTrace | ReverseTrace):
            out["record_ids"] = value.record_ids
            out["leaf_indices"] = value.leaf_indices
        if isinstance(value, TwoInvoiceCheck):
            out["compliant"] = value.compliant
            out["message"] = value.message
        return out
    return value
