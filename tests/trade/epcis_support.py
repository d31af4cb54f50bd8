"""The structural requirements of GS1's EPCIS 2.0 JSON Schema, asserted directly.

Written from the schema in the GS1 repository github.com/gs1/EPCIS, directory
``JSON-Schema/`` (``EPCIS-Document-JSON-Schema.json``, ``schemas/ObjectEvent-JSON-Schema.json``,
``schemas/event-definitions-JSON-Schema.json``, ``schemas/definitions-JSON-Schema.json`` and
the vocabulary schemas ``bizStep``, ``disposition``, ``bizTransaction-type``,
``source-dest-type``, ``error-reason``). The schema itself is not copied here and nothing is
fetched at test time: each rule below names the schema definition it restates.

``check_document(doc)`` raises ``AssertionError`` naming the path of the first violation.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

# bizStep-JSON-Schema.json: the CBV 2.0 business steps (or any other URI)
BIZ_STEPS = frozenset(
    [
        "accepting",
        "arriving",
        "assembling",
        "collecting",
        "commissioning",
        "consigning",
        "creating_class_instance",
        "cycle_counting",
        "decommissioning",
        "departing",
        "destroying",
        "disassembling",
        "dispensing",
        "encoding",
        "entering_exiting",
        "holding",
        "inspecting",
        "installing",
        "killing",
        "loading",
        "other",
        "packing",
        "picking",
        "receiving",
        "removing",
        "repackaging",
        "repairing",
        "replacing",
        "reserving",
        "retail_selling",
        "shipping",
        "staging_outbound",
        "stock_taking",
        "stocking",
        "storing",
        "transporting",
        "unloading",
        "unpacking",
        "void_shipping",
        "sensor_reporting",
        "sampling",
    ]
)
# disposition-JSON-Schema.json
DISPOSITIONS = frozenset(
    [
        "active",
        "container_closed",
        "damaged",
        "destroyed",
        "dispensed",
        "disposed",
        "encoded",
        "expired",
        "in_progress",
        "in_transit",
        "inactive",
        "no_pedigree_match",
        "non_sellable_other",
        "partially_dispensed",
        "recalled",
        "reserved",
        "retail_sold",
        "returned",
        "sellable_accessible",
        "sellable_not_accessible",
        "stolen",
        "unknown",
        "available",
        "completeness_verified",
        "completeness_inferred",
        "conformant",
        "container_open",
        "mismatch_instance",
        "mismatch_class",
        "mismatch_quantity",
        "needs_replacement",
        "non_conformant",
        "unavailable",
    ]
)
# bizTransaction-type-JSON-Schema.json
BIZ_TRANSACTION_TYPES = frozenset(
    [
        "bol",
        "cert",
        "desadv",
        "inv",
        "pedigree",
        "po",
        "poc",
        "prodorder",
        "recadv",
        "rma",
        "testprd",
        "testres",
    ]
)
# source-dest-type-JSON-Schema.json
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})
# error-reason-JSON-Schema.json
ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})
EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransactionEvent",
        "TransformationEvent",
        "AssociationEvent",
    }
)
# EPCIS-Document-JSON-Schema.json: epcisDocument.propertyNames
DOCUMENT_FIELDS = frozenset(
    {"@context", "id", "type", "schemaVersion", "creationDate", "epcisHeader", "epcisBody"}
)
# ObjectEvent / TransactionEvent properties plus event-definitions "Event"
EVENT_FIELDS = frozenset(
    {
        "type",
        "@context",
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "errorDeclaration",
        "certificationInfo",
        "epcList",
        "quantityList",
        "parentID",
        "action",
        "bizStep",
        "disposition",
        "persistentDisposition",
        "readPoint",
        "bizLocation",
        "bizTransactionList",
        "sourceList",
        "destinationList",
        "sensorElementList",
        "ilmd",
    }
)
# event-definitions "Event": eventTimeZoneOffset pattern
OFFSET_RE = re.compile(r"^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$")
# event-definitions "uom"
UOM_RE = re.compile(r"^[A-Z0-9]{2,3}$")
# "format": "uri": an absolute URI (RFC 3986): a scheme, then no spaces or forbidden chars
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*$")
PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# definitions "non-cbv-uri": a URI outside the CBV and EPCIS namespaces
CBV_PREFIXES = (
    "cbv:",
    "https://ns.gs1.org/cbv/",
    "urn:epcglobal:cbv",
    "epcis:",
    "https://ns.gs1.org/epcis/",
)


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and bool(URI_RE.match(value)) and not PCT_RE.search(value)


def is_non_cbv_uri(value: Any) -> bool:
    return is_uri(value) and not str(value).startswith(CBV_PREFIXES)


def is_time(value: Any) -> bool:
    """``"format": "date-time"``: RFC 3339 with seconds and an offset or Z."""
    if not isinstance(value, str) or not re.match(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value
    ):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _need(cond: bool, where: str, what: str) -> None:
    assert cond, f"{where}: {what}"


def _vocab(value: Any, allowed: frozenset[str], where: str) -> None:
    _need(value in allowed or is_non_cbv_uri(value), where, f"{value!r} is not a CBV value or URI")


def check_document(doc: Any) -> None:
    _need(isinstance(doc, dict), "$", "an EPCIS document is an object")
    for key in ("@context", "type", "schemaVersion", "creationDate", "epcisBody"):
        _need(key in doc, "$", f"missing required {key}")
    for key in doc:
        _need(key in DOCUMENT_FIELDS or is_non_cbv_uri(key), "$", f"unknown field {key!r}")
    _need(doc["type"] == "EPCISDocument", "$.type", "must be EPCISDocument")
    _need(doc["schemaVersion"] == "2.0", "$.schemaVersion", 'must be the string "2.0"')
    _need(is_time(doc["creationDate"]), "$.creationDate", "must be a date-time")
    context = doc["@context"]
    _need(isinstance(context, list), "$.@context", "expected a list")
    _need(context[0] == EPCIS_CONTEXT, "$.@context[0]", "must be the EPCIS 2.0 context")
    for i, item in enumerate(context):
        _need(is_uri(item) or isinstance(item, dict), f"$.@context[{i}]", "URI or object")
    if "epcisHeader" in doc:
        check_header(doc["epcisHeader"], "$.epcisHeader")
    body = doc["epcisBody"]
    _need(
        isinstance(body, dict) and isinstance(body.get("eventList"), list),
        "$.epcisBody",
        "needs an eventList array",
    )
    for i, event in enumerate(body["eventList"]):
        check_event(event, f"$.epcisBody.eventList[{i}]")


def check_header(header: Any, where: str) -> None:
    """EPCIS-Document-JSON-Schema.json: epcisHeader, vocabulary, vocabularyElement, attribute."""
    _need(isinstance(header, dict), where, "an object")
    for key in header:
        _need(key == "epcisMasterData" or is_non_cbv_uri(key), where, f"unknown field {key!r}")
    vocabularies = header.get("epcisMasterData", {}).get("vocabularyList", [])
    for i, vocabulary in enumerate(vocabularies):
        w = f"{where}.epcisMasterData.vocabularyList[{i}]"
        _need(is_uri(vocabulary.get("type")), f"{w}.type", "required, a URI")
        for j, element in enumerate(vocabulary.get("vocabularyElementList", [])):
            we = f"{w}.vocabularyElementList[{j}]"
            _need(is_uri(element.get("id")), f"{we}.id", "required, a URI")
            for k, attribute in enumerate(element.get("attributes", [])):
                wa = f"{we}.attributes[{k}]"
                _need(is_uri(attribute.get("id")), f"{wa}.id", "required, a URI")
                value = attribute.get("attribute")
                _need(
                    isinstance(value, int | float | str | dict) and not isinstance(value, bool),
                    f"{wa}.attribute",
                    "a number, string or object",
                )


def check_event(ev: Any, where: str) -> None:
    _need(isinstance(ev, dict), where, "an event is an object")
    _need(ev.get("type") in EVENT_TYPES, f"{where}.type", f"unknown event type {ev.get('type')!r}")
    for key in ("eventTime", "eventTimeZoneOffset"):
        _need(key in ev, where, f"missing required {key}")
    _need(is_time(ev["eventTime"]), f"{where}.eventTime", "must be a date-time")
    _need(
        bool(OFFSET_RE.match(ev["eventTimeZoneOffset"])),
        f"{where}.eventTimeZoneOffset",
        "must match ±hh:mm",
    )
    if "eventID" in ev:
        _need(is_uri(ev["eventID"]), f"{where}.eventID", "must be a URI")
    for key in ev:
        _need(
            key in EVENT_FIELDS or is_non_cbv_uri(key),
            where,
            f"field {key!r} is neither an EPCIS field nor an extension URI",
        )
    kind = ev["type"]
    if kind != "TransformationEvent":
        _need(
            ev.get("action") in ("OBSERVE", "ADD", "DELETE"),
            f"{where}.action",
            "OBSERVE, ADD or DELETE",
        )
    epcs = ev.get("epcList")
    quantities = ev.get("quantityList")
    if epcs is not None:
        _need(
            isinstance(epcs, list) and all(is_uri(e) for e in epcs),
            f"{where}.epcList",
            "a list of URIs",
        )
    if quantities is not None:
        _need(isinstance(quantities, list), f"{where}.quantityList", "a list")
        for j, q in enumerate(quantities):
            check_quantity(q, f"{where}.quantityList[{j}]")
    if kind == "ObjectEvent":
        sensors_at_point = bool(ev.get("sensorElementList")) and "readPoint" in ev
        _need(
            epcs is not None or bool(quantities) or sensors_at_point,
            where,
            "an ObjectEvent needs epcList, a non-empty quantityList, or sensor data at a readPoint",
        )
        if "ilmd" in ev:
            _need(ev["action"] == "ADD", f"{where}.ilmd", "ilmd only on an ADD event")
            _need(
                isinstance(ev["ilmd"], dict) and all(is_uri(k) for k in ev["ilmd"]),
                f"{where}.ilmd",
                "an object whose keys are URIs",
            )
    if kind == "TransactionEvent":
        _need(
            bool(ev.get("bizTransactionList")),
            where,
            "a TransactionEvent needs at least one bizTransaction",
        )
        _need(
            epcs is not None or bool(quantities) or ev.get("action") == "DELETE",
            where,
            "a TransactionEvent needs epcList or a non-empty quantityList",
        )
    if "bizStep" in ev:
        _vocab(ev["bizStep"], BIZ_STEPS, f"{where}.bizStep")
    if "disposition" in ev:
        _vocab(ev["disposition"], DISPOSITIONS, f"{where}.disposition")
    for key in ("readPoint", "bizLocation"):
        if key in ev:
            _need(
                isinstance(ev[key], dict) and is_uri(ev[key].get("id")),
                f"{where}.{key}",
                "an object with a URI id",
            )
    for j, bt in enumerate(ev.get("bizTransactionList", [])):
        w = f"{where}.bizTransactionList[{j}]"
        _need(is_uri(bt.get("bizTransaction")), w, "bizTransaction must be a URI")
        if "type" in bt:
            _vocab(bt["type"], BIZ_TRANSACTION_TYPES, f"{w}.type")
    for key, field in (("sourceList", "source"), ("destinationList", "destination")):
        for j, sd in enumerate(ev.get(key, [])):
            w = f"{where}.{key}[{j}]"
            _need(set(sd) == {"type", field}, w, f"exactly type and {field}")
            _vocab(sd["type"], SOURCE_DEST_TYPES, f"{w}.type")
            _need(is_uri(sd[field]), f"{w}.{field}", "must be a URI")
    for j, element in enumerate(ev.get("sensorElementList", [])):
        check_sensor_element(element, f"{where}.sensorElementList[{j}]")
    if "errorDeclaration" in ev:
        ed = ev["errorDeclaration"]
        w = f"{where}.errorDeclaration"
        for key in ("declarationTime", "reason", "correctiveEventIDs"):
            _need(key in ed, w, f"missing required {key}")
        _need(is_time(ed["declarationTime"]), f"{w}.declarationTime", "must be a date-time")
        _need(
            ed["reason"] in ERROR_REASONS or is_non_cbv_uri(ed["reason"]),
            f"{w}.reason",
            "did_not_occur, incorrect_data or a URI",
        )
        _need(
            all(is_uri(e) for e in ed["correctiveEventIDs"]),
            f"{w}.correctiveEventIDs",
            "a list of URIs",
        )


def check_quantity(q: Any, where: str) -> None:
    _need(
        isinstance(q, dict) and "epcClass" in q and "quantity" in q,
        where,
        "needs epcClass and quantity",
    )
    _need(is_uri(q["epcClass"]), f"{where}.epcClass", "must be a URI")
    _need(
        isinstance(q["quantity"], int | float) and not isinstance(q["quantity"], bool),
        f"{where}.quantity",
        "must be a number",
    )
    if "uom" in q:
        _need(bool(UOM_RE.match(q["uom"])), f"{where}.uom", "2-3 capitals or digits")


def check_sensor_element(element: Any, where: str) -> None:
    _need(
        isinstance(element, dict) and isinstance(element.get("sensorReport"), list),
        where,
        "needs a sensorReport list",
    )
    meta = element.get("sensorMetadata", {})
    for key in ("time", "startTime", "endTime"):
        if key in meta:
            _need(is_time(meta[key]), f"{where}.sensorMetadata.{key}", "must be a date-time")
    for key in ("deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules"):
        if key in meta:
            _need(is_uri(meta[key]), f"{where}.sensorMetadata.{key}", "must be a URI")
    for j, report in enumerate(element["sensorReport"]):
        w = f"{where}.sensorReport[{j}]"
        _need("type" in report, w, "needs a type")
        for key in ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"):
            if key in report:
                _need(
                    isinstance(report[key], int | float) and not isinstance(report[key], bool),
                    f"{w}.{key}",
                    "must be a number",
                )
        if "time" in report:
            _need(is_time(report["time"]), f"{w}.time", "must be a date-time")


def walk(value: Any, path: str = "$"):
    """Every (path, leaf value) in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, value
