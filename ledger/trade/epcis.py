"""GS1 EPCIS 2.0 JSON-LD export of the ledger's signed trade records (pure: records in, a
document out).

``export_epcis(entries, resolver)`` maps each signed record (with its leaf index) to the EPCIS
events a partner's repository or a regulator expects, and returns an ``EPCISDocument`` as a
JSON-ready dict; ``epcis_bytes(doc)`` serializes it with sorted keys, so two exports of the
same records are byte-identical. The mapping (docs/epcis.md has the table):

- ``batch``: ObjectEvent ADD, ``commissioning``, ``active``, at the registrant's site, with
  ILMD ``cbvmda:lotNumber`` and ``cbvmda:itemExpirationDate``;
- ``order``: TransactionEvent ADD with the ``po`` (class-level lines), seller -> buyer;
- ``invoice``: TransactionEvent ADD with the ``inv`` (and its order's ``po``);
- ``shipment``: ObjectEvent OBSERVE, ``shipping``, ``in_transit``, ``po`` + ``desadv``,
  source / destination owning and possessing party, the temperature log as a
  ``sensorElementList`` (``Temperature`` in ``CEL``; each excursion an ``ALARM_CONDITION``);
- ``acceptance``: ``receiving`` (``in_progress``) of everything shipped, ``accepting``
  (``conformant``) of the accepted goods, and ``inspecting`` of the rejected goods with a
  disposition from the rejection reasons (``damaged``, ``expired``, ``non_conformant``, ...);
- ``return``: ObjectEvent OBSERVE, ``shipping``, ``returned``, back to the original shipper
  (``po``, ``desadv``, ``rma``);
- ``recall``: ObjectEvent OBSERVE of the whole lots, ``recalled``; a quarantine is
  ``holding`` / ``non_sellable_other``, its release ``active``;
- ``correction``: the superseded record's events again, each with an ``errorDeclaration``
  (``did_not_occur``) dated at the correction (EPCIS error declaration).
- Enrolments, keys, qualifications, products, disputes and their resolutions are not events
  (master data or payment matters): they produce nothing.

Every event carries, in the ``lotproof:`` extension namespace, the leaf index, record id,
record type, signer and record digest (and leaf hash when known) of the record it comes
from, so it can be proved against the log (``GET /v1/records/{id}`` returns the inclusion
proof). Identifiers: GS1 Digital Link URIs (``https://id.gs1.org/01/{GTIN}/10/{lot}``,
``.../21/{serial}``) where the product has a GTIN; otherwise URNs under our own namespace
(``urn:lotproof:class:{product code}.{lot}``, ``urn:lotproof:unit:{20-digit code}``), and
parties by USCC (``urn:lotproof:party:{USCC}``, sites ``urn:lotproof:site:{USCC}``), since the
ledger holds no GLNs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from ledger.errors import MalformedInputError, NotFoundError
from ledger.records import SignedRecord
from ledger.trade.bodies import (
    Acceptance,
    Batch,
    Correction,
    Invoice,
    Order,
    Product,
    Recall,
    Return,
    Shipment,
    ShipmentLine,
    TemperatureLog,
    parse_body,
)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
EXTENSION_PREFIX = "lotproof"
DEFAULT_NAMESPACE = "urn:lotproof:"
DIGITAL_LINK = "https://id.gs1.org"
CHINA_OFFSET = "+08:00"
CBV_MDA = "urn:epcglobal:cbv:mda#"
EPC_CLASS_VOCABULARY = "urn:epcglobal:epcis:vtype:EPCClass"
COUNT_UOM = "EA"
"""UN/ECE Rec. 20 "each": quantities are counts of the smallest saleable unit."""

EVENT_TYPES = ("batch", "order", "invoice", "shipment", "acceptance", "return", "recall")
"""Record types that produce events of their own (a correction repeats its target's)."""

REJECTION_DISPOSITIONS = {
    "damaged": "damaged",
    "expired": "expired",
    "lot_mismatch": "mismatch_class",
    "short": "mismatch_quantity",
    "temperature_excursion": "non_conformant",
    "document_mismatch": "non_conformant",
    "suspect": "non_conformant",
}
RECALL_STEPS = {
    "recall": (None, "recalled"),
    "quarantine": ("holding", "non_sellable_other"),
    "release": (None, "active"),
}

_BODY_CACHE = 100_000
_UOM_RE = re.compile(r"^[A-Z0-9]{2,3}$")
_OFFSET_RE = re.compile(r"^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$")
_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9+.-]*:([A-Za-z0-9._~-]+:)*$")


@dataclass(frozen=True)
class LedgerEntry:
    """A signed record and where the log holds it."""

    leaf_index: int
    signed: SignedRecord
    leaf_hash: bytes | None = None

    @property
    def record_id(self) -> str:
        return self.signed.record.id


class Resolver(Protocol):
    """What the export looks up beyond the records it maps (the orders of shipments, the
    shipments of acceptances, superseded records, products for GTINs, lots for recalls)."""

    def record(self, record_id: str) -> LedgerEntry | None: ...

    def product(self, code: str) -> Product | None: ...

    def batch(self, product: str, lot: str) -> Batch | None: ...


class MemoryResolver:
    """A ``Resolver`` over records held in memory (tests, offline tools)."""

    def __init__(self, entries: Iterable[LedgerEntry]) -> None:
        self._records: dict[str, LedgerEntry] = {}
        self._products: dict[str, Product] = {}
        self._batches: dict[tuple[str, str], Batch] = {}
        for e in entries:
            self._records[e.record_id] = e
            record = e.signed.record
            if record.type == "product":
                body = parse_body("product", record.body)
                assert isinstance(body, Product)
                self._products[body.code] = body
            elif record.type == "batch":
                batch = parse_body("batch", record.body)
                assert isinstance(batch, Batch)
                self._batches[(batch.product, batch.lot)] = batch

    def record(self, record_id: str) -> LedgerEntry | None:
        return self._records.get(record_id)

    def product(self, code: str) -> Product | None:
        return self._products.get(code)

    def batch(self, product: str, lot: str) -> Batch | None:
        return self._batches.get((product, lot))


@dataclass(frozen=True)
class EpcisOptions:
    """``namespace``: the URN prefix of our own identifiers (a deployment may use its own,
    e.g. ``urn:example-consortium:``); ``time_zone_offset``: where the trade happens."""

    namespace: str = DEFAULT_NAMESPACE
    time_zone_offset: str = CHINA_OFFSET
    digital_link: str = DIGITAL_LINK
    count_uom: str | None = COUNT_UOM
    """The ``uom`` of counted quantities; None omits it (EPCIS then reads a plain count)."""

    def __post_init__(self) -> None:
        if not _NAMESPACE_RE.fullmatch(self.namespace):
            raise MalformedInputError(
                f"EPCIS namespace must look like 'urn:name:' (ending with ':'), "
                f"got {self.namespace!r}"
            )
        if self.count_uom is not None and not _UOM_RE.fullmatch(self.count_uom):
            raise MalformedInputError(
                f"count uom must be a UN/ECE Rec. 20 code (2-3 capitals or digits), "
                f"got {self.count_uom!r}"
            )
        if not _OFFSET_RE.fullmatch(self.time_zone_offset):
            raise MalformedInputError(
                f"time zone offset must look like +08:00, got {self.time_zone_offset!r}"
            )


_UNRESERVED_RE = re.compile(r"^[A-Za-z0-9._~-]*$")


def _q(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters."""
    return text if _UNRESERVED_RE.fullmatch(text) else quote(text, safe="")


@dataclass(frozen=True)
class Identifiers:
    """How products, units, parties, documents and events are named (see module doc)."""

    options: EpcisOptions = field(default_factory=EpcisOptions)

    @property
    def ns(self) -> str:
        return self.options.namespace

    def product_class(self, product: Product | None, code: str, lot: str | None) -> str:
        if product is not None and product.gtin:
            base = f"{self.options.digital_link}/01/{product.gtin}"
            return base if lot is None else f"{base}/10/{_q(lot)}"
        return f"{self.ns}class:{code}" + ("" if lot is None else f".{_q(lot)}")

    def unit(self, product: Product | None, code: str) -> str:
        """A 20-digit traceability code: the serial (AI 21) under the GTIN, if any."""
        if product is not None and product.gtin:
            return f"{self.options.digital_link}/01/{product.gtin}/21/{code}"
        return f"{self.ns}unit:{code}"

    def party(self, uscc: str) -> str:
        return f"{self.ns}party:{uscc}"

    def site(self, uscc: str) -> str:
        """The party's registered premises (the ledger records no GLN or address)."""
        return f"{self.ns}site:{uscc}"

    def device(self, device: str) -> str:
        return f"{self.ns}device:{_q(device)}"

    def transaction(self, issuer: str, document: str) -> str:
        """A business document, as CBV's ``urn:epcglobal:cbv:bt:{PGLN}:{id}`` with the USCC
        of the party that issued it in place of the PGLN."""
        return f"{self.ns}bt:{issuer}:{_q(document)}"

    def event(self, record_id: str, part: str) -> str:
        return f"{self.ns}event:{record_id}:{part}"

    @property
    def vocabulary(self) -> str:
        """What the ``lotproof:`` prefix expands to in the JSON-LD context."""
        return f"{self.ns}epcis:"


def _x(name: str) -> str:
    return f"{EXTENSION_PREFIX}:{name}"


def _celsius(tenths: int) -> float:
    # EPCIS reports a sensor value as a decimal in degrees Celsius; the ledger holds exact
    # tenths, and tenths / 10 prints as exactly that decimal (3.1, -18.0).
    return tenths / 10


def _ni_sha256(digest: bytes) -> str:
    """RFC 6920 named-information URI of a SHA-256 digest (the raw logger readings)."""
    return "ni:///sha-256;" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _What:
    """The objects of an event: instance-level EPCs and class-level quantities."""

    epcs: list[str] = field(default_factory=list)
    quantities: list[dict[str, Any]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.epcs and not self.quantities

    def put(self, event: dict[str, Any]) -> None:
        if self.epcs:
            event["epcList"] = self.epcs
        if self.quantities:
            event["quantityList"] = self.quantities


class _Mapper:
    def __init__(self, resolver: Resolver, ids: Identifiers) -> None:
        self.resolver = resolver
        self.ids = ids
        self.offset = ids.options.time_zone_offset
        self._bodies: dict[str, Any] = {}
        self.used: dict[str, Product] = {}

    # -- lookups ---------------------------------------------------------------------------
    def _entry(self, record_id: str, why: str) -> LedgerEntry:
        found = self.resolver.record(record_id)
        if found is None:
            raise NotFoundError(f"EPCIS export needs record {record_id!r} ({why})")
        return found

    def _body(self, entry: LedgerEntry, want: type[Any]) -> Any:
        record = entry.signed.record
        body = self._bodies.get(record.id)
        if body is None:
            # An order or shipment is read again by every record that refers to it.
            if len(self._bodies) >= _BODY_CACHE:
                self._bodies.clear()
            body = self._bodies[record.id] = parse_body(record.type, record.body)
        if not isinstance(body, want):
            raise MalformedInputError(
                f"record {record.id} is a {record.type}, expected a {want.__name__.lower()}"
            )
        return body

    def _product(self, code: str) -> Product:
        product = self.used.get(code) or self.resolver.product(code)
        if product is None:
            raise NotFoundError(f"EPCIS export needs product {code}, which is not registered")
        self.used[code] = product
        return product

    def master_data(self) -> list[dict[str, Any]]:
        """EPCClass master data of every product the events name: the product-level class
        (GTIN or drug identification code) with its regulated name, dosage form, strength,
        pack size and approval number."""
        elements = []
        for code, product in self.used.items():
            attributes = [
                (f"{CBV_MDA}regulatedProductName", product.generic_name),
                (f"{CBV_MDA}dosageFormType", product.dosage_form),
                (f"{CBV_MDA}strengthDescription", product.strength),
                (f"{CBV_MDA}netContentDescription", product.pack_size),
                (f"{self.ids.vocabulary}productCode", product.code),
                (f"{self.ids.vocabulary}approvalNumber", product.approval_number),
                (f"{self.ids.vocabulary}category", product.category),
                (f"{self.ids.vocabulary}marketingAuthorisationHolder", self.ids.party(product.mah)),
            ]
            elements.append(
                {
                    "id": self.ids.product_class(product, code, None),
                    "attributes": [{"id": k, "attribute": v} for k, v in attributes],
                }
            )
        elements.sort(key=lambda e: str(e["id"]))
        return [{"type": EPC_CLASS_VOCABULARY, "vocabularyElementList": elements}]

    def _class(self, code: str, lot: str | None) -> str:
        return self.ids.product_class(self._product(code), code, lot)

    def _quantity(self, code: str, lot: str | None, quantity: int) -> dict[str, Any]:
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise MalformedInputError(f"quantity must be an integer, got {quantity!r}")
        element: dict[str, Any] = {"epcClass": self._class(code, lot), "quantity": quantity}
        if self.ids.options.count_uom is not None:
            element["uom"] = self.ids.options.count_uom
        return element

    def _units(self, code: str, units: Iterable[str]) -> list[str]:
        product = self._product(code)
        return [self.ids.unit(product, u) for u in units]

    def _line_what(self, what: _What, line: ShipmentLine, units: Sequence[str], count: int) -> None:
        """Add ``count`` units of a shipment line: by code when known, else by class."""
        if count <= 0:
            return
        if units and len(units) == count:
            what.epcs.extend(self._units(line.product, units))
        else:
            what.quantities.append(self._quantity(line.product, line.lot, count))

    # -- common parts ------------------------------------------------------------------------
    def _base(self, kind: str, entry: LedgerEntry, part: str, action: str) -> dict[str, Any]:
        record = entry.signed.record
        event: dict[str, Any] = {
            "type": kind,
            "eventID": self.ids.event(record.id, part),
            "eventTime": record.time,
            "eventTimeZoneOffset": self.offset,
            "action": action,
        }
        event.update(self._provenance(entry))
        return event

    @staticmethod
    def _provenance(entry: LedgerEntry) -> dict[str, Any]:
        record = entry.signed.record
        out: dict[str, Any] = {
            _x("leafIndex"): entry.leaf_index,
            _x("recordId"): record.id,
            _x("recordType"): record.type,
            _x("signer"): record.actor,
            _x("recordDigest"): entry.signed.digest().hex(),
        }
        if entry.leaf_hash is not None:
            out[_x("leafHash")] = entry.leaf_hash.hex()
        return out

    def _parties(
        self, event: dict[str, Any], source: str, destination: str, kinds: Sequence[str]
    ) -> None:
        event["sourceList"] = [{"type": k, "source": self.ids.party(source)} for k in kinds]
        event["destinationList"] = [
            {"type": k, "destination": self.ids.party(destination)} for k in kinds
        ]

    def _where(self, event: dict[str, Any], uscc: str, *, location: bool = True) -> None:
        event["readPoint"] = {"id": self.ids.site(uscc)}
        if location:
            event["bizLocation"] = {"id": self.ids.site(uscc)}

    def _po(self, order_entry: LedgerEntry) -> dict[str, str]:
        order: Order = self._body(order_entry, Order)
        return {"type": "po", "bizTransaction": self.ids.transaction(order.buyer, order.number)}

    def _record_bt(self, kind: str, entry: LedgerEntry) -> dict[str, str]:
        record = entry.signed.record
        return {"type": kind, "bizTransaction": self.ids.transaction(record.actor, record.id)}

    # -- per record type ------------------------------------------------------------------------
    def events(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        kind = entry.signed.record.type
        if kind == "correction":
            return self._correction(entry)
        handler = {
            "batch": self._batch,
            "order": self._order,
            "invoice": self._invoice,
            "shipment": self._shipment,
            "acceptance": self._acceptance,
            "return": self._return,
            "recall": self._recall,
        }.get(kind)
        return [] if handler is None else handler(entry)

    def _batch(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        batch: Batch = self._body(entry, Batch)
        event = self._base("ObjectEvent", entry, "commissioning", "ADD")
        what = _What()
        if batch.unit_codes:
            what.epcs = self._units(batch.product, batch.unit_codes)
        else:
            what.quantities = [self._quantity(batch.product, batch.lot, batch.quantity)]
        what.put(event)
        event["bizStep"] = "commissioning"
        event["disposition"] = "active"
        self._where(event, entry.signed.record.actor)
        event["ilmd"] = {
            "cbvmda:lotNumber": batch.lot,
            "cbvmda:itemExpirationDate": batch.expiry_date.isoformat(),
            _x("productionDate"): batch.mfg_date.isoformat(),
            _x("productCode"): batch.product,
            _x("testReportSha256"): batch.test_report_sha256.hex(),
        }
        if batch.unit_codes_root is not None:
            event["ilmd"][_x("unitCodesRoot")] = batch.unit_codes_root.hex()
        return [event]

    def _order(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        order: Order = self._body(entry, Order)
        event = self._base("TransactionEvent", entry, "po", "ADD")
        event["bizTransactionList"] = [self._po(entry)]
        event["quantityList"] = [
            self._quantity(line.product, line.lot, line.quantity) for line in order.lines
        ]
        self._parties(event, order.seller, order.buyer, ["owning_party"])
        return [event]

    def _invoice(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        invoice: Invoice = self._body(entry, Invoice)
        event = self._base("TransactionEvent", entry, "inv", "ADD")
        bts = [
            {"type": "inv", "bizTransaction": self.ids.transaction(invoice.seller, invoice.number)}
        ]
        if invoice.order is not None:
            bts.append(
                self._po(self._entry(invoice.order, f"the order of invoice {entry.record_id}"))
            )
        event["bizTransactionList"] = bts
        event["quantityList"] = [
            self._quantity(line.product, line.lot, line.quantity) for line in invoice.lines
        ]
        self._parties(event, invoice.seller, invoice.buyer, ["owning_party"])
        if invoice.upstream:
            event[_x("upstreamInvoices")] = list(invoice.upstream)
        return [event]

    def _shipment_parts(
        self, shipment_id: str, why: str
    ) -> tuple[LedgerEntry, Shipment, dict[str, str]]:
        entry = self._entry(shipment_id, why)
        shipment: Shipment = self._body(entry, Shipment)
        po = self._po(self._entry(shipment.order, f"the order of shipment {shipment_id}"))
        return entry, shipment, po

    def _shipment(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        shipment: Shipment = self._body(entry, Shipment)
        order = self._entry(shipment.order, f"the order of shipment {entry.record_id}")
        event = self._base("ObjectEvent", entry, "shipping", "OBSERVE")
        what = _What()
        for line in shipment.lines:
            self._line_what(what, line, line.unit_codes, line.quantity)
        what.put(event)
        event["bizStep"] = "shipping"
        event["disposition"] = "in_transit"
        self._where(event, shipment.shipper, location=False)
        event["bizTransactionList"] = [self._po(order), self._record_bt("desadv", entry)]
        self._parties(
            event, shipment.shipper, shipment.consignee, ["owning_party", "possessing_party"]
        )
        if shipment.temperature is not None:
            event["sensorElementList"] = self._sensors(shipment.temperature)
        if shipment.carrier is not None:
            event[_x("carrier")] = self.ids.party(shipment.carrier)
        return [event]

    def _sensors(self, log: TemperatureLog) -> list[dict[str, Any]]:
        device = self.ids.device(log.device)
        summary: dict[str, Any] = {
            "sensorMetadata": {
                "deviceID": device,
                "rawData": _ni_sha256(log.readings_sha256),
                _x("intervalSeconds"): log.interval_s,
                _x("readingsCount"): log.readings_count,
            },
            "sensorReport": [
                {
                    "type": "Temperature",
                    "uom": "CEL",
                    "minValue": _celsius(log.min_tenths_c),
                    "maxValue": _celsius(log.max_tenths_c),
                    "meanValue": _celsius(log.mean_tenths_c),
                }
            ],
        }
        out = [summary]
        for excursion in log.excursions:
            out.append(
                {
                    "sensorMetadata": {
                        "deviceID": device,
                        "startTime": excursion.start,
                        "endTime": excursion.end,
                    },
                    "sensorReport": [
                        {
                            "type": "Temperature",
                            "exception": "ALARM_CONDITION",
                            "value": _celsius(excursion.peak_tenths_c),
                            "uom": "CEL",
                        }
                    ],
                }
            )
        return out

    def _acceptance(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        acceptance: Acceptance = self._body(entry, Acceptance)
        ship_entry, shipment, po = self._shipment_parts(
            acceptance.shipment, f"the shipment accepted by {entry.record_id}"
        )
        bts = [po, self._record_bt("desadv", ship_entry), self._record_bt("recadv", entry)]
        consignee, shipper = shipment.consignee, shipment.shipper
        received, accepted = _What(), _What()
        rejected: dict[str, _What] = {}
        reasons: dict[str, set[str]] = {}
        for al in acceptance.lines:
            if not 0 <= al.line < len(shipment.lines):
                raise MalformedInputError(
                    f"acceptance {entry.record_id} names line {al.line} of shipment "
                    f"{ship_entry.record_id}, which has {len(shipment.lines)} lines"
                )
            line = shipment.lines[al.line]
            units = list(line.unit_codes)
            self._line_what(received, line, units, line.quantity)
            gone = set(al.rejected_unit_codes)
            kept = (
                [u for u in units if u not in gone] if gone else (units if not al.rejected else [])
            )
            self._line_what(accepted, line, kept, al.accepted)
            if al.rejected:
                disposition = _rejection_disposition(al.reasons)
                bucket = rejected.setdefault(disposition, _What())
                self._line_what(bucket, line, list(al.rejected_unit_codes), al.rejected)
                reasons.setdefault(disposition, set()).update(al.reasons)
        out = []
        steps = [("receiving", "in_progress", received), ("accepting", "conformant", accepted)]
        for step, disposition, what in steps:
            if what.empty():
                continue
            event = self._base("ObjectEvent", entry, step, "OBSERVE")
            what.put(event)
            event["bizStep"] = step
            event["disposition"] = disposition
            self._where(event, consignee)
            event["bizTransactionList"] = list(bts)
            kinds = ["possessing_party"] if step == "receiving" else ["owning_party"]
            self._parties(event, shipper, consignee, kinds)
            out.append(event)
        for disposition in sorted(rejected):
            what = rejected[disposition]
            if what.empty():
                continue
            event = self._base("ObjectEvent", entry, f"inspecting.{disposition}", "OBSERVE")
            what.put(event)
            event["bizStep"] = "inspecting"
            event["disposition"] = disposition
            self._where(event, consignee)
            event["bizTransactionList"] = list(bts)
            event[_x("rejectionReasons")] = sorted(reasons.get(disposition, ()))
            event[_x("returnedTo")] = self.ids.party(shipper)
            out.append(event)
        return out

    def _return(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        ret: Return = self._body(entry, Return)
        ship_entry, shipment, po = self._shipment_parts(
            ret.shipment, f"the shipment returned by {entry.record_id}"
        )
        what = _What()
        for rl in ret.lines:
            if not 0 <= rl.line < len(shipment.lines):
                raise MalformedInputError(
                    f"return {entry.record_id} names line {rl.line} of shipment "
                    f"{ship_entry.record_id}, which has {len(shipment.lines)} lines"
                )
            self._line_what(what, shipment.lines[rl.line], list(rl.unit_codes), rl.quantity)
        event = self._base("ObjectEvent", entry, "shipping", "OBSERVE")
        what.put(event)
        event["bizStep"] = "shipping"
        event["disposition"] = "returned"
        self._where(event, shipment.consignee, location=False)
        event["bizTransactionList"] = [
            po,
            self._record_bt("desadv", ship_entry),
            self._record_bt("rma", entry),
        ]
        self._parties(
            event, shipment.consignee, shipment.shipper, ["owning_party", "possessing_party"]
        )
        event[_x("reason")] = ret.reason
        return [event]

    def _recall(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        recall: Recall = self._body(entry, Recall)
        step, disposition = RECALL_STEPS[recall.action]
        quantities = []
        for lot in recall.lots:
            batch = self.resolver.batch(recall.product, lot)
            if batch is None:
                raise NotFoundError(
                    f"EPCIS export needs lot {lot} of product {recall.product} "
                    f"(named by {recall.action} {entry.record_id})"
                )
            quantities.append(self._quantity(recall.product, lot, batch.quantity))
        event = self._base("ObjectEvent", entry, recall.action, "OBSERVE")
        event["quantityList"] = quantities
        if step is not None:
            event["bizStep"] = step
        event["disposition"] = disposition
        event[_x("recallAction")] = recall.action
        if recall.level is not None:
            event[_x("recallLevel")] = recall.level
        event[_x("reason")] = recall.reason
        return [event]

    def _correction(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        record = entry.signed.record
        correction: Correction = self._body(entry, Correction)
        if record.supersedes is None:
            raise MalformedInputError(f"correction {record.id} names no superseded record")
        target = self._entry(record.supersedes, f"superseded by correction {record.id}")
        if target.signed.record.type == "correction":
            return []
        out = []
        for original in self.events(target):
            original["errorDeclaration"] = {
                "declarationTime": record.time,
                "reason": "did_not_occur",
                "correctiveEventIDs": [],
                _x("correction"): self._provenance(entry),
                _x("reason"): correction.reason,
            }
            out.append(original)
        return out


def _rejection_disposition(reasons: Sequence[str]) -> str:
    found = {REJECTION_DISPOSITIONS.get(r, "non_conformant") for r in reasons}
    return found.pop() if len(found) == 1 else "non_conformant"


def export_epcis(
    entries: Iterable[LedgerEntry],
    resolver: Resolver,
    *,
    creation_date: str | None = None,
    options: EpcisOptions | None = None,
) -> dict[str, Any]:
    """The EPCIS 2.0 JSON-LD document of ``entries`` (sorted by leaf index; an entry given
    twice counts once). ``creation_date`` defaults to the latest record time among them, so
    the same records always give the same document; with no entries it must be given.

    Raises ``NotFoundError`` when a record refers to one the resolver cannot find, and
    ``MalformedInputError`` for a body that does not parse or an entry whose leaf index
    is claimed by two different records.
    """
    ids = Identifiers(options or EpcisOptions())
    unique: dict[int, LedgerEntry] = {}
    for e in entries:
        if isinstance(e.leaf_index, bool) or not isinstance(e.leaf_index, int) or e.leaf_index < 0:
            raise MalformedInputError(
                f"leaf index must be a non-negative integer, got {e.leaf_index!r}"
            )
        seen = unique.get(e.leaf_index)
        if seen is not None and seen.signed.digest() != e.signed.digest():
            raise MalformedInputError(f"two different records claim leaf {e.leaf_index}")
        unique[e.leaf_index] = e
    ordered = [unique[i] for i in sorted(unique)]
    if creation_date is None:
        if not ordered:
            raise MalformedInputError("an empty export needs an explicit creation date")
        creation_date = max(e.signed.record.time for e in ordered)
    mapper = _Mapper(resolver, ids)
    events = [event for e in ordered for event in mapper.events(e)]
    document: dict[str, Any] = {
        "@context": [EPCIS_CONTEXT, {EXTENSION_PREFIX: ids.vocabulary}],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": creation_date,
    }
    if mapper.used:
        document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": mapper.master_data()}}
    document["epcisBody"] = {"eventList": events}
    return document


def epcis_bytes(document: dict[str, Any]) -> bytes:
    """Serialize with sorted keys (``@context`` sorts first): the same document, the same
    bytes."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


__all__ = [
    "EPCIS_CONTEXT",
    "EpcisOptions",
    "Identifiers",
    "LedgerEntry",
    "MemoryResolver",
    "Resolver",
    "epcis_bytes",
    "export_epcis",
]
