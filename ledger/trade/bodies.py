"""Typed record bodies: one frozen dataclass per record type, parsed strictly.

``parse_body(record_type, body)`` returns the dataclass or raises ``MalformedInputError``
naming the bad field by its path (``$.lines[2].quantity``). Bodies hold bytes for hashes, keys
and addresses, ``date`` for calendar days, and integers for every quantity, amount (fen) and
temperature (tenths of °C): floats never get in. ``to_dict`` gives the JSON form back, so
``parse_body(t, b).to_dict() == b`` for every canonical body.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from ledger.errors import MalformedInputError
from ledger.trade import codes
from ledger.trade.uscc import verify_uscc

T = TypeVar("T")

_RECORD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_KEY_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_ORDER_ID_RE = re.compile(r"^(0x)?[0-9a-f]{64}$")
MAX_TEXT = 512
MAX_LINES = 1000
MAX_UNIT_CODES = 100_000


# -- strict readers ----------------------------------------------------------------------------
def _fields(data: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:  # type: ignore[assignment,type-arg]
    if not isinstance(data, dict):
        raise MalformedInputError(f"{where} must be an object, got {type(data).__name__}")
    keys = data.keys()
    if keys == required or (required <= keys <= required | optional):
        return data
    missing = required - data.keys()
    if missing:
        raise MalformedInputError(f"{where} is missing {', '.join(sorted(missing))}")
    extra = data.keys() - required - optional
    if extra:
        raise MalformedInputError(f"{where} has unknown fields {', '.join(sorted(extra))}")
    return data


def _text(value: Any, where: str, max_len: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedInputError(f"{where} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise MalformedInputError(f"{where} has {len(value)} characters, at most {max_len}")
    return value


def _int(value: Any, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(f"{where} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise MalformedInputError(f"{where} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise MalformedInputError(f"{where} must be at most {maximum}, got {value}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedInputError(f"{where} must be true or false, got {value!r}")
    return value


def _choice(value: Any, where: str, allowed: frozenset[str] | set[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise MalformedInputError(
            f"{where} must be one of {', '.join(sorted(allowed))}, got {value!r}"
        )
    return value


def _uscc(value: Any, where: str) -> str:
    verify_uscc(value, where)
    return str(value)


def _record_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _RECORD_ID_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be a record id, got {value!r}")
    return value


def _sha256(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not codes.SHA256_HEX_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be 64 lowercase hex digits, got {value!r}")
    return bytes.fromhex(value)


def _address(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not codes.ADDRESS_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be an 0x-prefixed 20-byte address, got {value!r}")
    return bytes.fromhex(value[2:])


def _date(value: Any, where: str) -> date:
    return codes.parse_date(value, where)


def _list(
    value: Any,
    where: str,
    item: Callable[[Any, str], T],
    *,
    min_len: int = 0,
    max_len: int = MAX_LINES,
) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise MalformedInputError(f"{where} must be a list, got {type(value).__name__}")
    if not min_len <= len(value) <= max_len:
        raise MalformedInputError(
            f"{where} must have {min_len} to {max_len} items, got {len(value)}"
        )
    return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))


def _unique(values: tuple[Any, ...], where: str) -> None:
    if len(set(values)) != len(values):
        seen: set[Any] = set()
        for v in values:
            if v in seen:
                raise MalformedInputError(f"{where} lists {v!r} twice")
            seen.add(v)


_FIELDS: dict[type, tuple[frozenset[str], dict[str, Any]]] = {}


def _new(cls: type[T], **values: Any) -> T:
    """A frozen body built without its generated ``__init__`` (which sets each field through
    ``object.__setattr__``: most of a small body's parse time). Fields not given take their
    defaults; an unknown or missing field is a ``TypeError``, as with ``__init__``."""
    known = _FIELDS.get(cls)
    if known is None:
        fs = dataclasses.fields(cls)  # type: ignore[arg-type]
        defaults = {f.name: f.default for f in fs if f.default is not dataclasses.MISSING}
        known = _FIELDS[cls] = (frozenset(f.name for f in fs), defaults)
    names, defaults = known
    if values.keys() != names:
        unknown = values.keys() - names
        missing = names - values.keys() - defaults.keys()
        if unknown or missing:
            raise TypeError(f"{cls.__name__}: unknown {sorted(unknown)}, missing {sorted(missing)}")
        values = {**defaults, **values}
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _opt(data: dict[str, Any], key: str) -> Any:
    return data.get(key)


def _opt_or(data: dict[str, Any], key: str, default: Any) -> Any:
    """An optional field's value, ``default`` only when it is absent or null (a falsy value
    of the wrong type, such as 0 or "" for a list, is still checked and refused)."""
    value = data.get(key)
    return default if value is None else value


def _hex_addr(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# -- bodies --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Enrolment:
    """The consortium admin admits a participant: identity, roles, keys, EVM account."""

    uscc: str
    name: str
    roles: tuple[str, ...]
    keys: tuple[bytes, ...]
    region: str
    evm_address: bytes | None = None
    public: bool | None = None
    deemed_manufacturer: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Enrolment:
        d = _fields(
            data,
            "$",
            {"uscc", "name", "roles", "keys", "region"},
            {"evm_address", "public", "deemed_manufacturer"},
        )
        roles = _list(d["roles"], "$.roles", lambda v, w: _choice(v, w, codes.ROLES), min_len=1)
        _unique(roles, "$.roles")
        keys = _list(d["keys"], "$.keys", _public_key, min_len=1, max_len=16)
        _unique(keys, "$.keys")
        region = d["region"]
        if not isinstance(region, str) or not codes.REGION_RE.fullmatch(region):
            raise MalformedInputError(f"$.region must be a 6-digit division code, got {region!r}")
        public = _opt(d, "public")
        if "hospital" in roles:
            if public is None:
                raise MalformedInputError("$.public is required for a hospital (true: public)")
            public = _bool(public, "$.public")
        elif public is not None:
            raise MalformedInputError("$.public applies to hospitals only")
        deemed = _opt(d, "deemed_manufacturer")
        if deemed is not None:
            deemed = _choice(deemed, "$.deemed_manufacturer", codes.DEEMED_MANUFACTURER_KINDS)
        evm = _opt(d, "evm_address")
        return _new(
            cls,
            uscc=_uscc(d["uscc"], "$.uscc"),
            name=_text(d["name"], "$.name", 200),
            roles=roles,
            keys=keys,
            region=region,
            evm_address=None if evm is None else _address(evm, "$.evm_address"),
            public=public,
            deemed_manufacturer=deemed,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uscc": self.uscc,
            "name": self.name,
            "roles": list(self.roles),
            "keys": [k.hex() for k in self.keys],
            "region": self.region,
        }
        if self.evm_address is not None:
            out["evm_address"] = _hex_addr(self.evm_address)
        if self.public is not None:
            out["public"] = self.public
        if self.deemed_manufacturer is not None:
            out["deemed_manufacturer"] = self.deemed_manufacturer
        return out


def _public_key(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _KEY_HEX_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be a 32-byte Ed25519 key as 64 hex, got {value!r}")
    return bytes.fromhex(value)


def _key_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _KEY_ID_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be a key id (16 hex digits), got {value!r}")
    return value


@dataclass(frozen=True)
class KeyRotation:
    """Add a signing key to a participant, optionally retiring one of its keys."""

    participant: str
    new_key: bytes
    retire_key: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> KeyRotation:
        d = _fields(data, "$", {"participant", "new_key"}, {"retire_key"})
        retire = _opt(d, "retire_key")
        return _new(
            cls,
            participant=_uscc(d["participant"], "$.participant"),
            new_key=_public_key(d["new_key"], "$.new_key"),
            retire_key=None if retire is None else _key_id(retire, "$.retire_key"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"participant": self.participant, "new_key": self.new_key.hex()}
        if self.retire_key is not None:
            out["retire_key"] = self.retire_key
        return out


@dataclass(frozen=True)
class KeyRevocation:
    participant: str
    key_id: str
    reason: str

    @classmethod
    def from_dict(cls, data: Any) -> KeyRevocation:
        d = _fields(data, "$", {"participant", "key_id", "reason"})
        return _new(
            cls,
            participant=_uscc(d["participant"], "$.participant"),
            key_id=_key_id(d["key_id"], "$.key_id"),
            reason=_text(d["reason"], "$.reason"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"participant": self.participant, "key_id": self.key_id, "reason": self.reason}


@dataclass(frozen=True)
class Qualification:
    """A licence the reviewer checked (首营审核) and the verdict."""

    holder: str
    holder_name: str
    kind: str
    number: str
    scope: frozenset[str]
    authority: str
    valid_from: date
    valid_to: date | None
    document_sha256: bytes
    verdict: str

    @classmethod
    def from_dict(cls, data: Any) -> Qualification:
        d = _fields(
            data,
            "$",
            {
                "holder",
                "holder_name",
                "kind",
                "number",
                "scope",
                "authority",
                "valid_from",
                "valid_to",
                "document_sha256",
                "verdict",
            },
        )
        holder = _uscc(d["holder"], "$.holder")
        kind = _choice(d["kind"], "$.kind", codes.LICENCE_KINDS)
        number = _text(d["number"], "$.number", 64)
        codes.verify_licence_number(kind, number, holder)
        scope = _list(d["scope"], "$.scope", lambda v, w: _choice(v, w, codes.SCOPES), max_len=32)
        _unique(scope, "$.scope")
        valid_from = _date(d["valid_from"], "$.valid_from")
        valid_to = None if d["valid_to"] is None else _date(d["valid_to"], "$.valid_to")
        if valid_to is not None and valid_to < valid_from:
            raise MalformedInputError(f"$.valid_to {valid_to} is before $.valid_from {valid_from}")
        return _new(
            cls,
            holder=holder,
            holder_name=_text(d["holder_name"], "$.holder_name", 200),
            kind=kind,
            number=number,
            scope=frozenset(scope),
            authority=_text(d["authority"], "$.authority", 200),
            valid_from=valid_from,
            valid_to=valid_to,
            document_sha256=_sha256(d["document_sha256"], "$.document_sha256"),
            verdict=_choice(d["verdict"], "$.verdict", frozenset({"approved", "rejected"})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "holder_name": self.holder_name,
            "kind": self.kind,
            "number": self.number,
            "scope": sorted(self.scope),
            "authority": self.authority,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": _iso(self.valid_to),
            "document_sha256": self.document_sha256.hex(),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Product:
    """A drug product (one pack presentation) registered by its MAH."""

    code: str
    generic_name: str
    dosage_form: str
    strength: str
    pack_size: str
    approval_number: str
    category: str
    special_class: str | None
    storage_min_tenths_c: int
    storage_max_tenths_c: int
    mah: str
    manufacturers: tuple[str, ...] = ()
    gtin: str | None = None

    @property
    def cold_chain(self) -> bool:
        return self.storage_max_tenths_c <= codes.COLD_CHAIN_MAX_TENTHS

    @classmethod
    def from_dict(cls, data: Any) -> Product:
        d = _fields(
            data,
            "$",
            {
                "code",
                "generic_name",
                "dosage_form",
                "strength",
                "pack_size",
                "approval_number",
                "category",
                "special_class",
                "storage_min_tenths_c",
                "storage_max_tenths_c",
                "mah",
            },
            {"manufacturers", "gtin"},
        )
        code = d["code"]
        if not isinstance(code, str) or not codes.PRODUCT_CODE_RE.fullmatch(code):
            raise MalformedInputError(
                f"$.code must be the 7-digit drug identification code, got {code!r}"
            )
        approval = _text(d["approval_number"], "$.approval_number", 32)
        letter = codes.approval_letter(approval)
        category = _choice(d["category"], "$.category", codes.CATEGORIES)
        if category not in codes.APPROVAL_LETTER_CATEGORIES[letter]:
            raise MalformedInputError(
                f"$.category {category} does not fit approval number {approval} "
                f"(国药准字{letter}: {', '.join(sorted(codes.APPROVAL_LETTER_CATEGORIES[letter]))})"
            )
        special = d["special_class"]
        if special is not None:
            special = _choice(special, "$.special_class", codes.SPECIAL_CLASSES)
        lo = _int(d["storage_min_tenths_c"], "$.storage_min_tenths_c", -800, 600)
        hi = _int(d["storage_max_tenths_c"], "$.storage_max_tenths_c", -800, 600)
        if hi < lo:
            raise MalformedInputError(
                f"$.storage_max_tenths_c {hi} is below $.storage_min_tenths_c {lo}"
            )
        gtin = _opt(d, "gtin")
        if gtin is not None:
            codes.verify_gtin14(gtin)
        makers = _list(_opt_or(d, "manufacturers", []), "$.manufacturers", _uscc, max_len=32)
        _unique(makers, "$.manufacturers")
        return _new(
            cls,
            code=code,
            generic_name=_text(d["generic_name"], "$.generic_name", 200),
            dosage_form=_text(d["dosage_form"], "$.dosage_form", 100),
            strength=_text(d["strength"], "$.strength", 100),
            pack_size=_text(d["pack_size"], "$.pack_size", 100),
            approval_number=approval,
            category=category,
            special_class=special,
            storage_min_tenths_c=lo,
            storage_max_tenths_c=hi,
            mah=_uscc(d["mah"], "$.mah"),
            manufacturers=makers,
            gtin=gtin,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "generic_name": self.generic_name,
            "dosage_form": self.dosage_form,
            "strength": self.strength,
            "pack_size": self.pack_size,
            "approval_number": self.approval_number,
            "category": self.category,
            "special_class": self.special_class,
            "storage_min_tenths_c": self.storage_min_tenths_c,
            "storage_max_tenths_c": self.storage_max_tenths_c,
            "mah": self.mah,
        }
        if self.manufacturers:
            out["manufacturers"] = list(self.manufacturers)
        if self.gtin is not None:
            out["gtin"] = self.gtin
        return out


@dataclass(frozen=True)
class Batch:
    """A batch (lot) registration: quantity in the smallest saleable unit."""

    product: str
    lot: str
    mfg_date: date
    expiry_date: date
    quantity: int
    test_report_sha256: bytes
    unit_codes: tuple[str, ...] = ()
    unit_codes_root: bytes | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Batch:
        d = _fields(
            data,
            "$",
            {"product", "lot", "mfg_date", "expiry_date", "quantity", "test_report_sha256"},
            {"unit_codes", "unit_codes_root"},
        )
        product = d["product"]
        if not isinstance(product, str) or not codes.PRODUCT_CODE_RE.fullmatch(product):
            raise MalformedInputError(f"$.product must be a 7-digit product code, got {product!r}")
        mfg = _date(d["mfg_date"], "$.mfg_date")
        exp = _date(d["expiry_date"], "$.expiry_date")
        if exp <= mfg:
            raise MalformedInputError(f"$.expiry_date {exp} is not after $.mfg_date {mfg}")
        quantity = _int(d["quantity"], "$.quantity", 1, 10**12)
        units = _unit_codes(_opt(d, "unit_codes"), "$.unit_codes", product)
        if units and len(units) != quantity:
            raise MalformedInputError(
                f"$.unit_codes has {len(units)} codes, want one per unit ({quantity})"
            )
        root = _opt(d, "unit_codes_root")
        if units and root is not None:
            # The root commits to codes kept off the ledger; listed codes need none, and an
            # unrelated root beside them would be exported as theirs.
            raise MalformedInputError("give $.unit_codes or $.unit_codes_root, not both")
        return _new(
            cls,
            product=product,
            lot=_lot(d["lot"], "$.lot"),
            mfg_date=mfg,
            expiry_date=exp,
            quantity=quantity,
            test_report_sha256=_sha256(d["test_report_sha256"], "$.test_report_sha256"),
            unit_codes=units,
            unit_codes_root=None if root is None else _sha256(root, "$.unit_codes_root"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "product": self.product,
            "lot": self.lot,
            "mfg_date": self.mfg_date.isoformat(),
            "expiry_date": self.expiry_date.isoformat(),
            "quantity": self.quantity,
            "test_report_sha256": self.test_report_sha256.hex(),
        }
        if self.unit_codes:
            out["unit_codes"] = list(self.unit_codes)
        if self.unit_codes_root is not None:
            out["unit_codes_root"] = self.unit_codes_root.hex()
        return out


def _lot(value: Any, where: str) -> str:
    text = _text(value, where, 40)
    if not re.fullmatch(r"[0-9A-Za-z._/-]+", text):
        raise MalformedInputError(f"{where} must be letters, digits and ._/- only, got {text!r}")
    return text


def _unit_codes(value: Any, where: str, product: str) -> tuple[str, ...]:
    if value is None:
        return ()

    def one(v: Any, w: str) -> str:
        try:
            codes.verify_unit_code(v, product)
        except MalformedInputError as e:
            raise MalformedInputError(f"{w}: {e}") from None
        return str(v)

    units = _list(value, where, one, max_len=MAX_UNIT_CODES)
    _unique(units, where)
    return units


@dataclass(frozen=True)
class EscrowTerms:
    """The on-chain escrow that pays for an order."""

    chain_id: int
    contract: bytes
    order_id: bytes
    buyer_address: bytes
    seller_address: bytes
    units_per_fen: int

    @classmethod
    def from_dict(cls, data: Any, where: str = "$.escrow") -> EscrowTerms:
        d = _fields(
            data,
            where,
            {
                "chain_id",
                "contract",
                "order_id",
                "buyer_address",
                "seller_address",
                "units_per_fen",
            },
        )
        order_id = d["order_id"]
        if not isinstance(order_id, str) or not _ORDER_ID_RE.fullmatch(order_id):
            raise MalformedInputError(
                f"{where}.order_id must be 64 lowercase hex, got {order_id!r}"
            )
        return _new(
            cls,
            chain_id=_int(d["chain_id"], f"{where}.chain_id", 1),
            contract=_address(d["contract"], f"{where}.contract"),
            order_id=bytes.fromhex(order_id.removeprefix("0x")),
            buyer_address=_address(d["buyer_address"], f"{where}.buyer_address"),
            seller_address=_address(d["seller_address"], f"{where}.seller_address"),
            units_per_fen=_int(d["units_per_fen"], f"{where}.units_per_fen", 1),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": _hex_addr(self.contract),
            "order_id": self.order_id.hex(),
            "buyer_address": _hex_addr(self.buyer_address),
            "seller_address": _hex_addr(self.seller_address),
            "units_per_fen": self.units_per_fen,
        }


@dataclass(frozen=True)
class OrderLine:
    product: str
    quantity: int
    unit_price_fen: int
    lot: str | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str) -> OrderLine:
        d = _fields(data, where, {"product", "quantity", "unit_price_fen"}, {"lot"})
        product = d["product"]
        if not isinstance(product, str) or not codes.PRODUCT_CODE_RE.fullmatch(product):
            raise MalformedInputError(
                f"{where}.product must be a 7-digit product code, got {product!r}"
            )
        lot = _opt(d, "lot")
        return _new(
            cls,
            product=product,
            quantity=_int(d["quantity"], f"{where}.quantity", 1, 10**9),
            unit_price_fen=_int(d["unit_price_fen"], f"{where}.unit_price_fen", 0, 10**10),
            lot=None if lot is None else _lot(lot, f"{where}.lot"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "product": self.product,
            "quantity": self.quantity,
            "unit_price_fen": self.unit_price_fen,
        }
        if self.lot is not None:
            out["lot"] = self.lot
        return out


@dataclass(frozen=True)
class Order:
    """A purchase order signed by the buyer."""

    buyer: str
    seller: str
    number: str
    lines: tuple[OrderLine, ...]
    total_fen: int
    requested_delivery: date
    escrow: EscrowTerms | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Order:
        d = _fields(
            data,
            "$",
            {"buyer", "seller", "number", "lines", "total_fen", "requested_delivery"},
            {"escrow"},
        )
        lines = _list(d["lines"], "$.lines", OrderLine.from_dict, min_len=1, max_len=200)
        total = _int(d["total_fen"], "$.total_fen", 0)
        want = sum(line.quantity * line.unit_price_fen for line in lines)
        if total != want:
            raise MalformedInputError(f"$.total_fen is {total}, but the lines sum to {want} fen")
        buyer = _uscc(d["buyer"], "$.buyer")
        seller = _uscc(d["seller"], "$.seller")
        if buyer == seller:
            raise MalformedInputError(f"$.buyer and $.seller are both {buyer}")
        escrow = _opt(d, "escrow")
        return _new(
            cls,
            buyer=buyer,
            seller=seller,
            number=_text(d["number"], "$.number", 64),
            lines=lines,
            total_fen=total,
            requested_delivery=_date(d["requested_delivery"], "$.requested_delivery"),
            escrow=None if escrow is None else EscrowTerms.from_dict(escrow),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "buyer": self.buyer,
            "seller": self.seller,
            "number": self.number,
            "lines": [line.to_dict() for line in self.lines],
            "total_fen": self.total_fen,
            "requested_delivery": self.requested_delivery.isoformat(),
        }
        if self.escrow is not None:
            out["escrow"] = self.escrow.to_dict()
        return out


@dataclass(frozen=True)
class InvoiceLine:
    product: str
    lot: str
    quantity: int
    amount_fen: int

    @classmethod
    def from_dict(cls, data: Any, where: str) -> InvoiceLine:
        d = _fields(data, where, {"product", "lot", "quantity", "amount_fen"})
        product = d["product"]
        if not isinstance(product, str) or not codes.PRODUCT_CODE_RE.fullmatch(product):
            raise MalformedInputError(
                f"{where}.product must be a 7-digit product code, got {product!r}"
            )
        return _new(
            cls,
            product=product,
            lot=_lot(d["lot"], f"{where}.lot"),
            quantity=_int(d["quantity"], f"{where}.quantity", 1),
            amount_fen=_int(d["amount_fen"], f"{where}.amount_fen", 0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "lot": self.lot,
            "quantity": self.quantity,
            "amount_fen": self.amount_fen,
        }


@dataclass(frozen=True)
class Invoice:
    """A sales invoice (发票) by the seller, resting on the upstream invoices it names."""

    number: str
    seller: str
    buyer: str
    lines: tuple[InvoiceLine, ...]
    total_fen: int
    order: str | None = None
    upstream: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> Invoice:
        d = _fields(
            data, "$", {"number", "seller", "buyer", "lines", "total_fen"}, {"order", "upstream"}
        )
        lines = _list(d["lines"], "$.lines", InvoiceLine.from_dict, min_len=1, max_len=200)
        total = _int(d["total_fen"], "$.total_fen", 0)
        want = sum(line.amount_fen for line in lines)
        if total != want:
            raise MalformedInputError(f"$.total_fen is {total}, but the lines sum to {want} fen")
        order = _opt(d, "order")
        upstream = _list(_opt_or(d, "upstream", []), "$.upstream", _record_id, max_len=50)
        _unique(upstream, "$.upstream")
        buyer = _uscc(d["buyer"], "$.buyer")
        seller = _uscc(d["seller"], "$.seller")
        if buyer == seller:
            raise MalformedInputError(f"$.buyer and $.seller are both {buyer}")
        return _new(
            cls,
            number=_text(d["number"], "$.number", 64),
            seller=seller,
            buyer=buyer,
            lines=lines,
            total_fen=total,
            order=None if order is None else _record_id(order, "$.order"),
            upstream=upstream,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "seller": self.seller,
            "buyer": self.buyer,
            "lines": [line.to_dict() for line in self.lines],
            "total_fen": self.total_fen,
        }
        if self.order is not None:
            out["order"] = self.order
        if self.upstream:
            out["upstream"] = list(self.upstream)
        return out


@dataclass(frozen=True)
class Excursion:
    start: str
    end: str
    peak_tenths_c: int

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Excursion:
        from ledger.records import parse_time

        d = _fields(data, where, {"start", "end", "peak_tenths_c"})
        try:
            start, end = parse_time(d["start"]), parse_time(d["end"])
        except MalformedInputError as e:
            raise MalformedInputError(f"{where}: {e}") from None
        if end < start:
            raise MalformedInputError(f"{where}.end {d['end']} is before its start {d['start']}")
        return cls(
            d["start"], d["end"], _int(d["peak_tenths_c"], f"{where}.peak_tenths_c", -2000, 2000)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "peak_tenths_c": self.peak_tenths_c}


@dataclass(frozen=True)
class TemperatureLog:
    """Summary of a cold-chain shipment's logger (the raw readings stay off ledger)."""

    device: str
    interval_s: int
    min_tenths_c: int
    max_tenths_c: int
    mean_tenths_c: int
    excursions: tuple[Excursion, ...]
    readings_sha256: bytes
    readings_count: int

    @classmethod
    def from_dict(cls, data: Any, where: str = "$.temperature") -> TemperatureLog:
        d = _fields(
            data,
            where,
            {
                "device",
                "interval_s",
                "min_tenths_c",
                "max_tenths_c",
                "mean_tenths_c",
                "excursions",
                "readings_sha256",
                "readings_count",
            },
        )
        lo = _int(d["min_tenths_c"], f"{where}.min_tenths_c", -2000, 2000)
        hi = _int(d["max_tenths_c"], f"{where}.max_tenths_c", -2000, 2000)
        mean = _int(d["mean_tenths_c"], f"{where}.mean_tenths_c", -2000, 2000)
        if not lo <= mean <= hi:
            raise MalformedInputError(
                f"{where}: want min <= mean <= max, got {lo}, {mean}, {hi} tenths of °C"
            )
        return _new(
            cls,
            device=_text(d["device"], f"{where}.device", 64),
            interval_s=_int(d["interval_s"], f"{where}.interval_s", 1, 86_400),
            min_tenths_c=lo,
            max_tenths_c=hi,
            mean_tenths_c=mean,
            excursions=_list(
                d["excursions"], f"{where}.excursions", Excursion.from_dict, max_len=500
            ),
            readings_sha256=_sha256(d["readings_sha256"], f"{where}.readings_sha256"),
            readings_count=_int(d["readings_count"], f"{where}.readings_count", 1),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "interval_s": self.interval_s,
            "min_tenths_c": self.min_tenths_c,
            "max_tenths_c": self.max_tenths_c,
            "mean_tenths_c": self.mean_tenths_c,
            "excursions": [e.to_dict() for e in self.excursions],
            "readings_sha256": self.readings_sha256.hex(),
            "readings_count": self.readings_count,
        }


@dataclass(frozen=True)
class ShipmentLine:
    order_line: int
    product: str
    lot: str
    expiry_date: date
    quantity: int
    unit_codes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ShipmentLine:
        d = _fields(
            data, where, {"order_line", "product", "lot", "expiry_date", "quantity"}, {"unit_codes"}
        )
        product = d["product"]
        if not isinstance(product, str) or not codes.PRODUCT_CODE_RE.fullmatch(product):
            raise MalformedInputError(
                f"{where}.product must be a 7-digit product code, got {product!r}"
            )
        quantity = _int(d["quantity"], f"{where}.quantity", 1, 10**9)
        units = _unit_codes(_opt(d, "unit_codes"), f"{where}.unit_codes", product)
        if units and len(units) != quantity:
            raise MalformedInputError(f"{where}.unit_codes has {len(units)} codes, want {quantity}")
        return _new(
            cls,
            order_line=_int(d["order_line"], f"{where}.order_line", 0, 199),
            product=product,
            lot=_lot(d["lot"], f"{where}.lot"),
            expiry_date=_date(d["expiry_date"], f"{where}.expiry_date"),
            quantity=quantity,
            unit_codes=units,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order_line": self.order_line,
            "product": self.product,
            "lot": self.lot,
            "expiry_date": self.expiry_date.isoformat(),
            "quantity": self.quantity,
        }
        if self.unit_codes:
            out["unit_codes"] = list(self.unit_codes)
        return out


@dataclass(frozen=True)
class Shipment:
    """A dispatch (发货 + 随货同行单) by the shipper against an order."""

    order: str
    shipper: str
    consignee: str
    lines: tuple[ShipmentLine, ...]
    carrier: str | None = None
    temperature: TemperatureLog | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Shipment:
        d = _fields(
            data, "$", {"order", "shipper", "consignee", "lines"}, {"carrier", "temperature"}
        )
        carrier = _opt(d, "carrier")
        temp = _opt(d, "temperature")
        lines = _list(d["lines"], "$.lines", ShipmentLine.from_dict, min_len=1, max_len=200)
        return _new(
            cls,
            order=_record_id(d["order"], "$.order"),
            shipper=_uscc(d["shipper"], "$.shipper"),
            consignee=_uscc(d["consignee"], "$.consignee"),
            lines=lines,
            carrier=None if carrier is None else _uscc(carrier, "$.carrier"),
            temperature=None if temp is None else TemperatureLog.from_dict(temp),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order": self.order,
            "shipper": self.shipper,
            "consignee": self.consignee,
            "lines": [line.to_dict() for line in self.lines],
        }
        if self.carrier is not None:
            out["carrier"] = self.carrier
        if self.temperature is not None:
            out["temperature"] = self.temperature.to_dict()
        return out


@dataclass(frozen=True)
class AcceptanceLine:
    line: int
    accepted: int
    rejected: int
    reasons: tuple[str, ...] = ()
    rejected_unit_codes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AcceptanceLine:
        d = _fields(
            data, where, {"line", "accepted", "rejected"}, {"reasons", "rejected_unit_codes"}
        )
        rejected = _int(d["rejected"], f"{where}.rejected", 0)
        reasons = _list(
            _opt_or(d, "reasons", []),
            f"{where}.reasons",
            lambda v, w: _choice(v, w, codes.REJECTION_REASONS),
            max_len=7,
        )
        _unique(reasons, f"{where}.reasons")
        if rejected and not reasons:
            raise MalformedInputError(
                f"{where}.reasons must name why {rejected} units were rejected"
            )
        if not rejected and reasons:
            raise MalformedInputError(f"{where}.reasons given but nothing was rejected")
        units = _opt_or(d, "rejected_unit_codes", [])
        rejected_units = _list(
            units, f"{where}.rejected_unit_codes", _any_unit_code, max_len=MAX_UNIT_CODES
        )
        _unique(rejected_units, f"{where}.rejected_unit_codes")
        return _new(
            cls,
            line=_int(d["line"], f"{where}.line", 0, 199),
            accepted=_int(d["accepted"], f"{where}.accepted", 0),
            rejected=rejected,
            reasons=reasons,
            rejected_unit_codes=rejected_units,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "line": self.line,
            "accepted": self.accepted,
            "rejected": self.rejected,
        }
        if self.reasons:
            out["reasons"] = list(self.reasons)
        if self.rejected_unit_codes:
            out["rejected_unit_codes"] = list(self.rejected_unit_codes)
        return out


def _any_unit_code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not codes.UNIT_CODE_RE.fullmatch(value):
        raise MalformedInputError(f"{where} must be a 20-digit traceability code, got {value!r}")
    return value


@dataclass(frozen=True)
class Acceptance:
    """Receiving inspection (收货验收) by the consignee: every shipment line, once."""

    shipment: str
    lines: tuple[AcceptanceLine, ...]

    @classmethod
    def from_dict(cls, data: Any) -> Acceptance:
        d = _fields(data, "$", {"shipment", "lines"})
        lines = _list(d["lines"], "$.lines", AcceptanceLine.from_dict, min_len=1, max_len=200)
        _unique(tuple(line.line for line in lines), "$.lines[].line")
        return _new(cls, shipment=_record_id(d["shipment"], "$.shipment"), lines=lines)

    def to_dict(self) -> dict[str, Any]:
        return {"shipment": self.shipment, "lines": [line.to_dict() for line in self.lines]}


@dataclass(frozen=True)
class ReturnLine:
    line: int
    quantity: int
    unit_codes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ReturnLine:
        d = _fields(data, where, {"line", "quantity"}, {"unit_codes"})
        quantity = _int(d["quantity"], f"{where}.quantity", 1)
        units = _list(
            _opt_or(d, "unit_codes", []),
            f"{where}.unit_codes",
            _any_unit_code,
            max_len=MAX_UNIT_CODES,
        )
        _unique(units, f"{where}.unit_codes")
        if units and len(units) != quantity:
            raise MalformedInputError(f"{where}.unit_codes has {len(units)} codes, want {quantity}")
        return _new(
            cls, line=_int(d["line"], f"{where}.line", 0, 199), quantity=quantity, unit_codes=units
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "quantity": self.quantity}
        if self.unit_codes:
            out["unit_codes"] = list(self.unit_codes)
        return out


@dataclass(frozen=True)
class Return:
    """Goods sent back by the consignee of ``shipment`` to its shipper (销后退回)."""

    shipment: str
    lines: tuple[ReturnLine, ...]
    reason: str

    @classmethod
    def from_dict(cls, data: Any) -> Return:
        d = _fields(data, "$", {"shipment", "lines", "reason"})
        lines = _list(d["lines"], "$.lines", ReturnLine.from_dict, min_len=1, max_len=200)
        _unique(tuple(line.line for line in lines), "$.lines[].line")
        return _new(
            cls,
            shipment=_record_id(d["shipment"], "$.shipment"),
            lines=lines,
            reason=_text(d["reason"], "$.reason"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipment": self.shipment,
            "lines": [line.to_dict() for line in self.lines],
            "reason": self.reason,
        }


RECALL_ACTIONS = frozenset({"recall", "quarantine", "release"})


@dataclass(frozen=True)
class Recall:
    """A recall (召回, levels I/II/III) or a quarantine hold and its release, by the MAH.

    ``action``: ``recall`` marks lots recalled for good; ``quarantine`` holds them (no
    shipment) pending investigation; ``release`` lifts a quarantine (never a recall).
    """

    product: str
    lots: tuple[str, ...]
    reason: str
    action: str = "recall"
    level: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Recall:
        d = _fields(data, "$", {"product", "lots", "reason"}, {"action", "level"})
        product = d["product"]
        if not isinstance(product, str) or not codes.PRODUCT_CODE_RE.fullmatch(product):
            raise MalformedInputError(f"$.product must be a 7-digit product code, got {product!r}")
        action = _choice(_opt_or(d, "action", "recall"), "$.action", RECALL_ACTIONS)
        level = _opt(d, "level")
        if action == "recall":
            level = _choice(level, "$.level", frozenset(codes.RECALL_LEVELS))
        elif level is not None:
            raise MalformedInputError(f"$.level applies to a recall, not to {action}")
        lots = _list(d["lots"], "$.lots", _lot, min_len=1, max_len=500)
        _unique(lots, "$.lots")
        return _new(
            cls,
            product=product,
            lots=lots,
            reason=_text(d["reason"], "$.reason"),
            action=action,
            level=level,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "product": self.product,
            "lots": list(self.lots),
            "reason": self.reason,
        }
        if self.action != "recall":
            out["action"] = self.action
        if self.level is not None:
            out["level"] = self.level
        return out


@dataclass(frozen=True)
class Dispute:
    """Buyer or seller disputes an order's payment: the escrow is frozen until resolved."""

    order: str
    reason: str
    claimed_fen: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Dispute:
        d = _fields(data, "$", {"order", "reason"}, {"claimed_fen"})
        claimed = _opt(d, "claimed_fen")
        return _new(
            cls,
            order=_record_id(d["order"], "$.order"),
            reason=_text(d["reason"], "$.reason"),
            claimed_fen=None if claimed is None else _int(claimed, "$.claimed_fen", 0),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"order": self.order, "reason": self.reason}
        if self.claimed_fen is not None:
            out["claimed_fen"] = self.claimed_fen
        return out


@dataclass(frozen=True)
class DisputeResolution:
    """The arbiter's split of the order's escrowed total."""

    dispute: str
    to_seller_fen: int
    to_buyer_fen: int
    note: str

    @classmethod
    def from_dict(cls, data: Any) -> DisputeResolution:
        d = _fields(data, "$", {"dispute", "to_seller_fen", "to_buyer_fen", "note"})
        return _new(
            cls,
            dispute=_record_id(d["dispute"], "$.dispute"),
            to_seller_fen=_int(d["to_seller_fen"], "$.to_seller_fen", 0),
            to_buyer_fen=_int(d["to_buyer_fen"], "$.to_buyer_fen", 0),
            note=_text(d["note"], "$.note"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dispute": self.dispute,
            "to_seller_fen": self.to_seller_fen,
            "to_buyer_fen": self.to_buyer_fen,
            "note": self.note,
        }


@dataclass(frozen=True)
class Correction:
    """Declares the record named in the envelope's ``supersedes`` in error (EPCIS pattern)."""

    reason: str

    @classmethod
    def from_dict(cls, data: Any) -> Correction:
        d = _fields(data, "$", {"reason"})
        return _new(cls, reason=_text(d["reason"], "$.reason"))

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason}


Body = (
    Enrolment
    | KeyRotation
    | KeyRevocation
    | Qualification
    | Product
    | Batch
    | Order
    | Invoice
    | Shipment
    | Acceptance
    | Return
    | Recall
    | Dispute
    | DisputeResolution
    | Correction
)

BODY_TYPES: dict[str, Any] = {
    "enrolment": Enrolment,
    "key_rotation": KeyRotation,
    "key_revocation": KeyRevocation,
    "qualification": Qualification,
    "product": Product,
    "batch": Batch,
    "order": Order,
    "invoice": Invoice,
    "shipment": Shipment,
    "acceptance": Acceptance,
    "return": Return,
    "recall": Recall,
    "dispute": Dispute,
    "dispute_resolution": DisputeResolution,
    "correction": Correction,
}


def parse_body(record_type: str, body: Any) -> Body:
    """The typed body of a ``record_type`` record; ``MalformedInputError`` names the field."""
    cls = BODY_TYPES.get(record_type)
    if cls is None:
        raise MalformedInputError(f"unknown record type {record_type!r}")
    try:
        parsed: Body = cls.from_dict(body)
    except MalformedInputError as e:
        raise MalformedInputError(f"{record_type} body: {e}") from None
    return parsed
