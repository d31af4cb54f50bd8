"""The trade's rules, each with a stable id, and how an accepted record changes state.

``apply_record`` checks one signed record against the working state (which already holds
the effect of the records before it in the same submit) and, if every rule passes, records
its effect in that working state. It raises ``RuleViolation(rule_id, message)`` on the first
rule that refuses; the caller then discards the whole working state, so nothing is written.

Who signs what (``WRITERS``): the consortium admin enrols participants and may rotate or
revoke anyone's key; a participant may also rotate or revoke its own keys. Reviewers sign
qualifications; the MAH registers products, recalls and quarantines; the MAH or a
manufacturer named on the product registers batches; buyers order, accept and return;
sellers ship and invoice; buyer or seller dispute; arbiters resolve. Carriers, auditors and
regulators sign no trade records (a carrier's temperature log travels in the shipper's
shipment record).

Dates: licences are valid from ``valid_from`` up to, not including, ``valid_to``, judged on
the trade's calendar day in China Standard Time (configurable, ``RuleConfig.trade_tz``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ledger.errors import RuleViolation, SignatureError
from ledger.leaf import PLAIN_HEADERS, LeafHeader, LeafKind
from ledger.records import SignedRecord, key_id_for, parse_time, verify_record
from ledger.trade import bodies as b
from ledger.trade import codes
from ledger.trade.state import (
    BatchRow,
    DisputeRow,
    InvoiceRow,
    KeyRow,
    OrderRow,
    ParticipantRow,
    ProductRow,
    QualRow,
    RecallRow,
    RecordRow,
    ShipmentRow,
    StockRow,
    UnitEventRow,
    UnitRow,
    WorkingState,
    dumps,
    replace,
)

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

RULES: dict[str, str] = {
    "REC-REPLAY": "a record id is used once",
    "REC-FUTURE": "a record's time may not lie ahead of the ledger's clock",
    "REC-STALE": "a record older than the freshness window is refused",
    "REC-SUPERSEDES": "only a correction supersedes another record",
    "TIME-ORDER": "a record may not predate the record it builds on",
    "ACTOR-UNKNOWN": "the signer must be an enrolled participant or a consortium admin",
    "KEY-UNKNOWN": "the record's key must be one of the actor's enrolled keys",
    "KEY-NOT-YET-VALID": "a key signs nothing dated before it was added",
    "KEY-REVOKED": "a revoked or retired key signs nothing after its revocation",
    "KEY-DUPLICATE": "a public key is enrolled once",
    "SIG-INVALID": "the signature must verify against the actor's enrolled key",
    "ROLE-FORBIDDEN": "the actor's roles must allow this record type",
    "ACTOR-MISMATCH": "the actor must be the party the record speaks for",
    "ENROL-DUPLICATE": "a participant (USCC) is enrolled once",
    "PARTY-UNKNOWN": "every party a record names must be enrolled",
    "PARTY-ROLE": "every party a record names must hold the role its place needs",
    "QUAL-HOLDER-NAME": "a licence's holder name must be the participant's enrolled name",
    "QUAL-MISSING": (
        "a trade needs an approved business licence and role licence on both sides"
        " (a distribution licence of a type for the role: A/B wholesale, B/C/D retail)"
    ),
    "QUAL-EXPIRED": "an expired licence blocks new trades (GSP 62/89)",
    "QUAL-NOT-YET-VALID": "a licence not yet valid on the trade's date does not count",
    "QUAL-SCOPE": "the product's category must lie in the role licence's scope (GSP 90)",
    "QUAL-COLD-CHAIN": "cold-chain goods need the cold-chain annotation on both sides",
    "QUAL-SPECIAL": "narcotics / psychotropics I need the seller's designation and the"
    " hospital's purchase card (印鉴卡)",
    "VACCINE-CHANNEL": "vaccines go only from the MAH to a disease-control centre",
    "PRODUCT-UNKNOWN": "a record may name only registered products",
    "PRODUCT-DUPLICATE": "a drug identification code is registered once",
    "BATCH-REGISTRANT": "only the product's MAH or a manufacturer it names registers batches",
    "BATCH-DUPLICATE": "(product, lot) is unique",
    "BATCH-UNKNOWN": "a record may name only registered lots",
    "UNIT-DUPLICATE": "a traceability code is registered once, forever (一物一码)",
    "UNIT-NOT-HELD": "only the holder of a traceability code ships or returns it",
    "UNIT-CODES-REQUIRED": "a lot registered with traceability codes moves only with its codes",
    "ORDER-UNKNOWN": "a shipment, invoice or dispute names an existing order",
    "ORDER-PARTY": "shipper and consignee are the order's seller and buyer",
    "ORDER-LINE": "a shipment line matches its order line's product and lot",
    "ORDER-EXCEEDED": "no shipment beyond what the order still lacks",
    "ORDER-CLOSED": "a cancelled order takes no shipments, invoices or disputes",
    "ESCROW-ADDRESS": "escrow buyer and seller addresses are the parties' enrolled accounts",
    "ESCROW-DUPLICATE": "an escrow (chain, contract, order id) pays for one order",
    "STOCK-INSUFFICIENT": "nobody ships more of a lot than they hold",
    "LOT-EXPIRY-MISMATCH": "a shipment line's expiry date is the lot's",
    "LOT-EXPIRED": "an expired lot is not shipped",
    "LOT-RECALLED": "a recalled lot is not shipped",
    "LOT-QUARANTINED": "a quarantined lot is not shipped",
    "COLD-CHAIN-LOG": "cold-chain goods travel with a temperature log (interval <= 300 s)",
    "SHIPMENT-UNKNOWN": "an acceptance or return names an existing shipment",
    "SHIPMENT-CANCELLED": "a cancelled shipment cannot be accepted",
    "ACCEPT-NOT-CONSIGNEE": "only the consignee accepts a shipment",
    "ACCEPT-TWICE": "a shipment is accepted once",
    "ACCEPT-LINES": "acceptance covers every line once, accepted + rejected = shipped",
    "ACCEPT-COLD-EXCURSION": "a cold-chain line whose log left the product's range is rejected",
    "ACCEPT-UNIT-CODES": "rejected traceability codes are codes of the line, one per unit",
    "RETURN-NOT-CONSIGNEE": "only the consignee of a shipment returns goods from it",
    "RETURN-NOT-ACCEPTED": "only accepted goods are returned",
    "RETURN-EXCEEDS": "a return cannot exceed what was accepted less what was returned",
    "RECALL-NOT-MAH": "only the product's MAH recalls or quarantines its lots",
    "RECALL-STATE": "quarantine and release apply to lots in the right state",
    "INVOICE-ORDER": "an invoice's order has the invoice's seller and buyer",
    "INVOICE-UPSTREAM": "an upstream invoice exists, is not void, and was issued to this seller",
    "DISPUTE-PARTY": "only the order's buyer or seller disputes it",
    "DISPUTE-OPEN": "an order has at most one dispute",
    "DISPUTE-UNKNOWN": "a resolution names an existing dispute",
    "RESOLUTION-TWICE": "a dispute is resolved once",
    "RESOLUTION-SPLIT": "a resolution splits exactly the order's total",
    "CORR-TARGET-UNKNOWN": "a correction supersedes an existing record",
    "CORR-TWICE": "a record is superseded once",
    "CORR-NOT-AUTHOR": "only the author of a record (a reviewer for licences) corrects it",
    "CORR-UNSUPPORTED": "corrections apply to qualifications, invoices, orders, shipments",
    "CORR-TOO-LATE": (
        "an order with shipments or a dispute, or an accepted shipment, is not cancelled"
    ),
}

ADMIN = "admin"
SELF = "self"
WRITERS: Mapping[str, frozenset[str]] = {
    "enrolment": frozenset({ADMIN}),
    "key_rotation": frozenset({ADMIN, SELF}),
    "key_revocation": frozenset({ADMIN, SELF}),
    "qualification": frozenset({"reviewer"}),
    "product": frozenset({"mah"}),
    "batch": frozenset({"mah", "manufacturer"}),
    "order": codes.BUYER_ROLES,
    "invoice": codes.SELLER_ROLES,
    "shipment": codes.SELLER_ROLES,
    "acceptance": codes.BUYER_ROLES,
    "return": codes.BUYER_ROLES,
    "recall": frozenset({"mah"}),
    "dispute": codes.BUYER_ROLES | codes.SELLER_ROLES,
    "dispute_resolution": frozenset({"arbiter"}),
    "correction": codes.HOLDER_ROLES | {"reviewer"},
}


@dataclass(frozen=True)
class RuleConfig:
    """Knobs a deployment may change without touching the rules."""

    trade_tz: timezone = CHINA_STANDARD_TIME
    max_log_interval_s: int = 300
    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(hours=24)


@dataclass
class Context:
    """What the rules know besides state: the trust root, the clock, the config."""

    admin_keys: Mapping[str, bytes]
    config: RuleConfig = field(default_factory=RuleConfig)
    now: datetime | None = None
    verified: Callable[[SignedRecord, bytes], bool] | None = None
    check_signatures: bool = True


def _celsius(tenths: int) -> str:
    """Tenths of °C as text, without floats: 25 -> "2.5", 80 -> "8"."""
    whole, frac = divmod(abs(tenths), 10)
    return ("-" if tenths < 0 else "") + str(whole) + (f".{frac}" if frac else "")


def _range(product: ProductRow) -> str:
    return f"{_celsius(product.storage_min_tenths_c)}-{_celsius(product.storage_max_tenths_c)} °C"


def _who(p: ParticipantRow | None, uscc: str) -> str:
    return f"{p.name} ({uscc})" if p is not None else uscc


def _licence(q: QualRow) -> str:
    return f"{codes.LICENCE_NAMES_ZH.get(q.kind, q.kind)} {q.number}"


def _scope_name(scope: str) -> str:
    return f"{codes.SCOPE_NAMES_ZH.get(scope, scope)} ({scope})"


def _role_name(role: str) -> str:
    return f"{role} ({codes.ROLE_NAMES_ZH.get(role, role)})"


# -- entry point -------------------------------------------------------------------------------
def apply_record(
    ws: WorkingState, ctx: Context, signed: SignedRecord, leaf_index: int
) -> LeafHeader:
    """Check ``signed`` against ``ws`` and record its effect there; return its leaf header."""
    record = signed.record
    if ws.record(record.id) is not None:
        raise RuleViolation("REC-REPLAY", f"record id {record.id} is already on the ledger")
    moment = datetime.fromisoformat(record.time)  # the envelope checked its form
    if ctx.now is not None:
        if moment - ctx.now > ctx.config.max_future_skew:
            raise RuleViolation(
                "REC-FUTURE",
                f"record time {record.time} is ahead of the ledger clock"
                f" {ctx.now.isoformat()} by more than {ctx.config.max_future_skew}",
            )
        if ctx.now - moment > ctx.config.max_age:
            raise RuleViolation(
                "REC-STALE",
                f"record time {record.time} is older than"
                f" {ctx.config.max_age} at {ctx.now.isoformat()}",
            )
    if record.supersedes is not None and record.type != "correction":
        raise RuleViolation(
            "REC-SUPERSEDES", f"a {record.type} record may not supersede; use a correction"
        )
    body = b.parse_body(record.type, record.body)
    actor = _authenticate(ws, ctx, signed)
    allowed = WRITERS[record.type]
    if actor is None:
        if ADMIN not in allowed:
            raise RuleViolation(
                "ROLE-FORBIDDEN", f"the consortium admin does not sign {record.type} records"
            )
    elif not (actor.role_set & allowed) and SELF not in allowed:
        raise RuleViolation(
            "ROLE-FORBIDDEN",
            f"{_who(actor, actor.uscc)} has roles {', '.join(sorted(actor.role_set))};"
            f" a {record.type} record needs one of {', '.join(sorted(allowed - {ADMIN}))}",
        )
    handler = _HANDLERS[record.type]
    r = _Rec(signed, moment, leaf_index, moment.astimezone(ctx.config.trade_tz).date(), actor)
    header: LeafHeader = handler(ws, ctx, r, body)
    ws.put(RecordRow(record.id, leaf_index, record.type, record.actor, record.time))
    return header


def prefetch(ws: WorkingState, signed: Sequence[SignedRecord]) -> None:
    """Load what a batch of records will look up, in a few queries instead of one each
    (signers and their keys, new participants' and keys' uniqueness checks, new lots',
    escrow keys). Malformed bodies are left to the rules."""
    lots: list[tuple[str, str]] = []
    escrows: list[str] = []
    parties = [s.record.actor for s in signed]
    keys = [s.record.key_id for s in signed]
    for s in signed:
        body = s.record.body
        try:
            if s.record.type == "batch":
                lots.append((str(body["product"]), str(body["lot"])))
            elif s.record.type == "order" and body.get("escrow"):
                escrows.append(escrow_key(b.EscrowTerms.from_dict(body["escrow"])))
            elif s.record.type == "enrolment":
                parties.append(str(body["uscc"]))
                keys.extend(key_id_for(bytes.fromhex(k)) for k in body["keys"])
        except (KeyError, TypeError, ValueError):
            continue
    ws.prefetch(RecordRow, [s.record.id for s in signed])
    ws.prefetch(ParticipantRow, parties)
    ws.prefetch(KeyRow, keys)
    if lots:
        ws.prefetch_lots(lots)
    if escrows:
        ws.prefetch_escrow(escrows)


class _Rec:
    """The record being applied, as the handlers need it."""

    __slots__ = ("actor", "day", "id", "leaf", "moment", "signed", "time", "uscc")

    def __init__(
        self,
        signed: SignedRecord,
        moment: datetime,
        leaf: int,
        day: date,
        actor: ParticipantRow | None,  # None: the consortium admin
    ) -> None:
        record = signed.record
        self.signed = signed
        self.id = record.id
        self.time = record.time
        self.uscc = record.actor
        self.moment = moment
        self.leaf = leaf
        self.day = day
        self.actor = actor


def _authenticate(ws: WorkingState, ctx: Context, signed: SignedRecord) -> ParticipantRow | None:
    record = signed.record
    admin_key = ctx.admin_keys.get(record.actor)
    if admin_key is not None:
        if key_id_for(admin_key) != record.key_id:
            raise RuleViolation(
                "KEY-UNKNOWN",
                f"admin {record.actor} signs with key {key_id_for(admin_key)},"
                f" the record names key {record.key_id}",
            )
        _verify(ctx, signed, admin_key)
        return None
    participant = ws.participant(record.actor)
    if participant is None:
        raise RuleViolation(
            "ACTOR-UNKNOWN", f"{record.actor} is neither an enrolled participant nor an admin"
        )
    key = ws.key(record.key_id)
    if key is None or key.uscc != record.actor:
        raise RuleViolation(
            "KEY-UNKNOWN",
            f"key {record.key_id} is not enrolled for {_who(participant, record.actor)}",
        )
    if key.revoked_at is not None:
        raise RuleViolation(
            "KEY-REVOKED",
            f"key {key.key_id} of {_who(participant, key.uscc)} was revoked at {key.revoked_at}"
            f" (record {key.revoked_by})",
        )
    if record.time < key.added_at:
        raise RuleViolation(
            "KEY-NOT-YET-VALID",
            f"key {key.key_id} was added at {key.added_at}; the record is dated {record.time}",
        )
    _verify(ctx, signed, key.public_key)
    return participant


def _verify(ctx: Context, signed: SignedRecord, public_key: bytes) -> None:
    if not ctx.check_signatures:
        return
    if ctx.verified is not None and ctx.verified(signed, public_key):
        return
    try:
        verify_record(signed, public_key)
    except SignatureError as e:
        raise RuleViolation("SIG-INVALID", str(e)) from None


# -- parties and licences ----------------------------------------------------------------------
def _party(ws: WorkingState, uscc: str, what: str) -> ParticipantRow:
    p = ws.participant(uscc)
    if p is None:
        raise RuleViolation("PARTY-UNKNOWN", f"{what} {uscc} is not an enrolled participant")
    return p


def _need_role(p: ParticipantRow, roles: frozenset[str], what: str) -> None:
    if not p.role_set & roles:
        raise RuleViolation(
            "PARTY-ROLE",
            f"{what} {_who(p, p.uscc)} has roles {', '.join(sorted(p.role_set))};"
            f" the place needs one of {', '.join(_role_name(r) for r in sorted(roles))}",
        )


def _same(r: _Rec, uscc: str, what: str) -> None:
    if r.uscc != uscc:
        raise RuleViolation(
            "ACTOR-MISMATCH", f"the record is signed by {r.uscc}, but its {what} is {uscc}"
        )


def _valid_licences(  # noqa: PLR0917
    ws: WorkingState,
    p: ParticipantRow,
    kinds: frozenset[str],
    day: date,
    missing_rule: str,
    what: str,
    roles: frozenset[str] = frozenset(),
) -> list[QualRow]:
    """``p``'s approved licences of ``kinds`` valid on ``day`` (with ``roles``: only those
    one of the roles trades under, ``codes.licence_serves_role``); a named refusal when there
    is none."""
    quals = [
        q
        for q in ws.qualifications(p.uscc)
        if q.kind in kinds
        and q.usable
        and (not roles or any(codes.licence_serves_role(q.kind, q.number, r) for r in roles))
    ]
    valid = [q for q in quals if q.valid_on(day)]
    if valid:
        return valid
    names = " or ".join(codes.LICENCE_NAMES_ZH.get(k, k) for k in sorted(kinds))
    names += codes.distribution_types_hint(roles)
    if not quals:
        raise RuleViolation(missing_rule, f"{_who(p, p.uscc)} has no approved {names} ({what})")
    expired = [q for q in quals if q.to_date is not None and q.to_date <= day]
    if expired:
        q = max(expired, key=lambda q: q.to_date or day)
        raise RuleViolation(
            "QUAL-EXPIRED",
            f"{_licence(q)} of {p.name} expired on {q.valid_to} (trade date {day})",
        )
    q = min(quals, key=lambda q: q.from_date)
    raise RuleViolation(
        "QUAL-NOT-YET-VALID",
        f"{_licence(q)} of {p.name} is valid only from {q.valid_from} (trade date {day})",
    )


def check_party(
    ws: WorkingState, p: ParticipantRow, side: str, product: ProductRow, day: date
) -> None:
    """One side of a trade: business licence, role licence covering the product, cold chain,
    special drugs. ``side`` is ``seller`` or ``buyer``. A pass is remembered for the party, side,
    day and what of the product the checks read (category, cold chain, special class)."""
    memo_key = (p.uscc, side, product.category, product.cold_chain, product.special_class, day)
    if ws.licence_ok(memo_key):
        return
    trading = p.role_set & (codes.SELLER_ROLES if side == "seller" else codes.BUYER_ROLES)
    if not trading:
        _need_role(p, codes.SELLER_ROLES if side == "seller" else codes.BUYER_ROLES, side)
    _valid_licences(ws, p, frozenset({codes.BUSINESS_LICENCE}), day, "QUAL-MISSING", side)
    kinds = frozenset().union(*(codes.ROLE_LICENCES.get(r, frozenset()) for r in trading))
    valid = _valid_licences(ws, p, kinds, day, "QUAL-MISSING", f"{side} role licence", trading)
    covering = [q for q in valid if product.category in q.scope_set]
    if not covering:
        q = valid[0]
        raise RuleViolation(
            "QUAL-SCOPE",
            f"{_licence(q)} of {p.name} does not cover {_scope_name(product.category)}"
            f" needed for {product.generic_name} ({product.code}); scope:"
            f" {', '.join(sorted(q.scope_set)) or 'none'}",
        )
    if product.cold_chain and not any(codes.COLD_CHAIN in q.scope_set for q in covering):
        q = covering[0]
        raise RuleViolation(
            "QUAL-COLD-CHAIN",
            f"{_licence(q)} of {p.name} lacks the cold-chain annotation"
            f" ({codes.SCOPE_NAMES_ZH[codes.COLD_CHAIN]}) that {product.generic_name}"
            f" ({_range(product)})"
            " needs",
        )
    special = product.special_class
    if special in codes.CONTROLLED_CLASSES:
        if side == "buyer" and p.role_set & {"hospital", "clinic"}:
            need, label = codes.PURCHASE_CARD, "purchase card (印鉴卡)"
        else:
            need, label = codes.SPECIAL_DRUG_DESIGNATION, "special-drug designation"
        licences = _valid_licences(ws, p, frozenset({need}), day, "QUAL-SPECIAL", label)
        if need == codes.SPECIAL_DRUG_DESIGNATION and not any(
            special in q.scope_set for q in licences
        ):
            raise RuleViolation(
                "QUAL-SPECIAL",
                f"{_licence(licences[0])} of {p.name} does not cover {_scope_name(special)}",
            )
    ws.remember_licence_ok(memo_key)


def check_trade(
    ws: WorkingState,
    seller: ParticipantRow,
    buyer: ParticipantRow,
    product: ProductRow,
    day: date,
) -> None:
    if product.category == codes.VACCINES:
        if seller.uscc != product.mah:
            raise RuleViolation(
                "VACCINE-CHANNEL",
                f"vaccine {product.generic_name} ({product.code}) is sold only by its MAH"
                f" {product.mah}, not by {_who(seller, seller.uscc)}",
            )
        if "disease_control" not in buyer.role_set:
            raise RuleViolation(
                "VACCINE-CHANNEL",
                f"vaccine {product.generic_name} ({product.code}) goes only to a"
                f" disease-control centre, not to {_who(buyer, buyer.uscc)}",
            )
    check_party(ws, seller, "seller", product, day)
    check_party(ws, buyer, "buyer", product, day)


def _product(ws: WorkingState, code: str) -> ProductRow:
    p = ws.product(code)
    if p is None:
        raise RuleViolation("PRODUCT-UNKNOWN", f"product {code} is not registered")
    return p


def _not_before(r: _Rec, earlier: str, what: str) -> None:
    if r.time < earlier:
        raise RuleViolation(
            "TIME-ORDER", f"the record is dated {r.time}, before the {what} it follows ({earlier})"
        )


# -- participants and keys ---------------------------------------------------------------------
def _enrolment(ws: WorkingState, ctx: Context, r: _Rec, body: b.Enrolment) -> LeafHeader:
    if ws.participant(body.uscc) is not None:
        raise RuleViolation("ENROL-DUPLICATE", f"{body.uscc} is already enrolled")
    for key in body.keys:
        _new_key(ws, key)
    ws.put(
        ParticipantRow(
            uscc=body.uscc,
            name=body.name,
            roles=",".join(sorted(body.roles)),
            public=None if body.public is None else int(body.public),
            region=body.region,
            evm_address=body.evm_address,
            deemed_manufacturer=body.deemed_manufacturer,
            record_id=r.id,
            enrolled_at=r.time,
        )
    )
    for key in body.keys:
        ws.put(KeyRow(key_id_for(key), body.uscc, key, r.time, r.id))
    return PLAIN_HEADERS[LeafKind.ENROLMENT]


def _new_key(ws: WorkingState, key: bytes) -> None:
    existing = ws.key(key_id_for(key))
    if existing is not None:
        raise RuleViolation(
            "KEY-DUPLICATE", f"key {key_id_for(key)} is already enrolled for {existing.uscc}"
        )


def _self_or_admin(r: _Rec, uscc: str) -> None:
    if r.actor is not None and r.actor.uscc != uscc:
        raise RuleViolation(
            "ROLE-FORBIDDEN", f"{r.uscc} may change its own keys only, not those of {uscc}"
        )


def _owned_key(ws: WorkingState, uscc: str, key_id: str) -> KeyRow:
    key = ws.key(key_id)
    if key is None or key.uscc != uscc:
        raise RuleViolation("KEY-UNKNOWN", f"key {key_id} is not enrolled for {uscc}")
    if key.revoked_at is not None:
        raise RuleViolation("KEY-REVOKED", f"key {key_id} was already revoked at {key.revoked_at}")
    return key


def _key_rotation(ws: WorkingState, ctx: Context, r: _Rec, body: b.KeyRotation) -> LeafHeader:
    _party(ws, body.participant, "participant")
    _self_or_admin(r, body.participant)
    _new_key(ws, body.new_key)
    if body.retire_key is not None:
        old = _owned_key(ws, body.participant, body.retire_key)
        ws.put(replace(old, revoked_at=r.time, revoked_by=r.id))
    ws.put(KeyRow(key_id_for(body.new_key), body.participant, body.new_key, r.time, r.id))
    return PLAIN_HEADERS[LeafKind.KEY_ROTATION]


def _key_revocation(ws: WorkingState, ctx: Context, r: _Rec, body: b.KeyRevocation) -> LeafHeader:
    _party(ws, body.participant, "participant")
    _self_or_admin(r, body.participant)
    old = _owned_key(ws, body.participant, body.key_id)
    ws.put(replace(old, revoked_at=r.time, revoked_by=r.id))
    return PLAIN_HEADERS[LeafKind.KEY_REVOCATION]


def _qualification(ws: WorkingState, ctx: Context, r: _Rec, body: b.Qualification) -> LeafHeader:
    holder = _party(ws, body.holder, "licence holder")
    if body.holder_name != holder.name:
        raise RuleViolation(
            "QUAL-HOLDER-NAME",
            f"licence names holder {body.holder_name!r}; {body.holder} is enrolled as"
            f" {holder.name!r}",
        )
    ws.add_qualification(
        QualRow(
            record_id=r.id,
            holder=body.holder,
            kind=body.kind,
            number=body.number,
            scope=",".join(sorted(body.scope)),
            authority=body.authority,
            valid_from=body.valid_from.isoformat(),
            valid_to=None if body.valid_to is None else body.valid_to.isoformat(),
            verdict=body.verdict,
            reviewer=r.uscc,
            document_sha256=body.document_sha256,
            recorded_at=r.time,
        )
    )
    ws.qualifications_changed()
    return PLAIN_HEADERS[LeafKind.QUALIFICATION]


# -- products, batches, recalls ----------------------------------------------------------------
def _product_rec(ws: WorkingState, ctx: Context, r: _Rec, body: b.Product) -> LeafHeader:
    _same(r, body.mah, "MAH")
    existing = ws.product(body.code)
    if existing is not None:
        raise RuleViolation(
            "PRODUCT-DUPLICATE",
            f"product code {body.code} is already registered ({existing.generic_name},"
            f" record {existing.record_id})",
        )
    for maker in body.manufacturers:
        _need_role(
            _party(ws, maker, "manufacturer"), frozenset({"manufacturer", "mah"}), "manufacturer"
        )
    ws.put(
        ProductRow(
            code=body.code,
            record_id=r.id,
            mah=body.mah,
            manufacturers=",".join(body.manufacturers),
            category=body.category,
            special_class=body.special_class,
            storage_min_tenths_c=body.storage_min_tenths_c,
            storage_max_tenths_c=body.storage_max_tenths_c,
            cold_chain=int(body.cold_chain),
            approval_number=body.approval_number,
            generic_name=body.generic_name,
            gtin=body.gtin,
        )
    )
    return PLAIN_HEADERS[LeafKind.PRODUCT]


def _batch(ws: WorkingState, ctx: Context, r: _Rec, body: b.Batch) -> LeafHeader:
    product = _product(ws, body.product)
    makers = {product.mah, *filter(None, product.manufacturers.split(","))}
    if r.uscc not in makers:
        raise RuleViolation(
            "BATCH-REGISTRANT",
            f"{_who(r.actor, r.uscc)} is neither the MAH of {product.generic_name}"
            f" ({product.code}) nor a manufacturer it names",
        )
    existing = ws.batch_id_for(body.product, body.lot)
    if existing is not None:
        raise RuleViolation(
            "BATCH-DUPLICATE",
            f"lot {body.lot} of product {body.product} is already registered (record {existing})",
        )
    if body.unit_codes:
        ws.prefetch(UnitRow, body.unit_codes)
        for code in body.unit_codes:
            unit = ws.unit(code)
            if unit is not None:
                raise RuleViolation(
                    "UNIT-DUPLICATE",
                    f"traceability code {code} is already registered to batch {unit.batch_id}",
                )
        for code in body.unit_codes:
            ws.put(UnitRow(code, r.id, r.uscc, None))
    ws.add_batch(
        BatchRow(
            batch_id=r.id,
            product=body.product,
            lot=body.lot,
            registrant=r.uscc,
            mfg_date=body.mfg_date.isoformat(),
            expiry_date=body.expiry_date.isoformat(),
            quantity=body.quantity,
            status="active",
            status_record=None,
            recall_level=None,
            registered_at=r.time,
            batch_leaf=r.leaf,
            unit_coded=int(bool(body.unit_codes)),
        )
    )
    ws.put(StockRow(r.uscc, r.id, body.quantity, 0))
    return PLAIN_HEADERS[LeafKind.BATCH]


def _recall(ws: WorkingState, ctx: Context, r: _Rec, body: b.Recall) -> LeafHeader:
    product = _product(ws, body.product)
    if r.uscc != product.mah:
        raise RuleViolation(
            "RECALL-NOT-MAH",
            f"{_who(r.actor, r.uscc)} is not the MAH ({product.mah}) of {product.generic_name}",
        )
    for lot in body.lots:
        batch_id = ws.batch_id_for(body.product, lot)
        batch = None if batch_id is None else ws.batch(batch_id)
        if batch is None:
            raise RuleViolation(
                "BATCH-UNKNOWN", f"lot {lot} of product {body.product} is not registered"
            )
        if body.action == "recall":
            ws.put(replace(batch, status="recalled", status_record=r.id, recall_level=body.level))
        elif body.action == "quarantine":
            if batch.status == "recalled":
                raise RuleViolation(
                    "RECALL-STATE", f"lot {lot} is recalled; it cannot be quarantined"
                )
            ws.put(replace(batch, status="quarantined", status_record=r.id))
        else:
            if batch.status != "quarantined":
                raise RuleViolation(
                    "RECALL-STATE",
                    f"lot {lot} is {batch.status}, not quarantined; nothing to release",
                )
            ws.put(replace(batch, status="active", status_record=r.id))
    ws.append(
        RecallRow(r.id, body.product, ",".join(body.lots), body.action, body.level, r.time, r.uscc)
    )
    return PLAIN_HEADERS[LeafKind.RECALL]


# -- orders, invoices --------------------------------------------------------------------------
def escrow_key(terms: b.EscrowTerms) -> str:
    return f"{terms.chain_id}:{terms.contract.hex()}:{terms.order_id.hex()}"


def _order(ws: WorkingState, ctx: Context, r: _Rec, body: b.Order) -> LeafHeader:
    _same(r, body.buyer, "buyer")
    buyer = r.actor
    assert buyer is not None
    seller = _party(ws, body.seller, "seller")
    _need_role(seller, codes.SELLER_ROLES, "seller")
    for i, line in enumerate(body.lines):
        product = _product(ws, line.product)
        if line.lot is not None and ws.batch_id_for(line.product, line.lot) is None:
            raise RuleViolation(
                "BATCH-UNKNOWN",
                f"line {i}: lot {line.lot} of product {line.product} is not registered",
            )
        check_trade(ws, seller, buyer, product, r.day)
    key = None
    if body.escrow is not None:
        terms = body.escrow
        for who, party, addr in (
            ("buyer", buyer, terms.buyer_address),
            ("seller", seller, terms.seller_address),
        ):
            if party.evm_address != addr:
                enrolled = "none" if party.evm_address is None else "0x" + party.evm_address.hex()
                raise RuleViolation(
                    "ESCROW-ADDRESS",
                    f"escrow {who}_address 0x{addr.hex()} is not {_who(party, party.uscc)}'s"
                    f" enrolled account ({enrolled})",
                )
        key = escrow_key(terms)
        taken = ws.order_for_escrow(key)
        if taken is not None:
            raise RuleViolation(
                "ESCROW-DUPLICATE",
                f"escrow order id {terms.order_id.hex()} already pays for order {taken}",
            )
    lines = [
        {
            "product": line.product,
            "lot": line.lot,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "shipped": 0,
            "rejected": 0,
            "accepted": 0,
            "returned": 0,
        }
        for line in body.lines
    ]
    ws.add_order(
        OrderRow(
            order_id=r.id,
            buyer=body.buyer,
            seller=body.seller,
            number=body.number,
            ordered_at=r.time,
            total_fen=body.total_fen,
            lines=dumps(lines),
            escrow=None if body.escrow is None else dumps(body.escrow.to_dict()),
            amount_due_fen=0,
            status="open",
            payment_status="no_escrow" if body.escrow is None else "awaiting_acceptance",
            dispute_id=None,
            order_leaf=r.leaf,
            escrow_key=key,
        )
    )
    return PLAIN_HEADERS[LeafKind.ORDER]


def order_status(lines: list[dict[str, Any]]) -> str:
    in_transit = sum(ln["shipped"] - ln["rejected"] - ln["accepted"] for ln in lines)
    lacking = sum(ln["quantity"] - (ln["shipped"] - ln["rejected"]) for ln in lines)
    if lacking > 0:
        return "open"
    return "in_delivery" if in_transit > 0 else "fulfilled"


def _update_order(ws: WorkingState, order: OrderRow, lines: list[dict[str, Any]]) -> OrderRow:
    due = sum((ln["accepted"] - ln["returned"]) * ln["unit_price_fen"] for ln in lines)
    payment = order.payment_status
    if payment in ("awaiting_acceptance", "releasable"):
        payment = "releasable" if due > 0 else "awaiting_acceptance"
    status = order.status if order.status == "cancelled" else order_status(lines)
    row = replace(
        order, lines=dumps(lines), amount_due_fen=due, status=status, payment_status=payment
    )
    ws.put(row)
    return row


def _known_order(ws: WorkingState, order_id: str) -> OrderRow:
    order = ws.order(order_id)
    if order is None:
        raise RuleViolation("ORDER-UNKNOWN", f"order {order_id} is not on the ledger")
    return order


def _refuse_closed(order: OrderRow) -> None:
    if order.status == "cancelled":
        raise RuleViolation("ORDER-CLOSED", f"order {order.order_id} was cancelled")


def _invoice(ws: WorkingState, ctx: Context, r: _Rec, body: b.Invoice) -> LeafHeader:
    _same(r, body.seller, "seller")
    _need_role(_party(ws, body.buyer, "buyer"), codes.BUYER_ROLES, "buyer")
    if body.order is not None:
        order = _known_order(ws, body.order)
        if (order.seller, order.buyer) != (body.seller, body.buyer):
            raise RuleViolation(
                "INVOICE-ORDER",
                f"order {body.order} is from {order.buyer} to {order.seller}; the invoice is"
                f" from {body.seller} to {body.buyer}",
            )
        _refuse_closed(order)
        _not_before(r, order.ordered_at, "order")
    for i, line in enumerate(body.lines):
        _product(ws, line.product)
        if ws.batch_id_for(line.product, line.lot) is None:
            raise RuleViolation(
                "BATCH-UNKNOWN",
                f"line {i}: lot {line.lot} of product {line.product} is not registered",
            )
    for up in body.upstream:
        row = ws.get(InvoiceRow, up)
        if row is None or row.voided_by is not None or row.buyer != body.seller:
            why = (
                "does not exist"
                if row is None
                else "is void"
                if row.voided_by
                else f"was issued to {row.buyer}, not to {body.seller}"
            )
            raise RuleViolation("INVOICE-UPSTREAM", f"upstream invoice {up} {why}")
    ws.put(
        InvoiceRow(
            r.id,
            body.number,
            body.seller,
            body.buyer,
            body.order,
            body.total_fen,
            ",".join(body.upstream),
            r.time,
        )
    )
    return PLAIN_HEADERS[LeafKind.INVOICE]


# -- shipments, acceptance, returns ------------------------------------------------------------
def _out_of_range(temp: b.TemperatureLog | None, product: ProductRow) -> bool:
    if temp is None:
        return False
    return (
        bool(temp.excursions)
        or temp.min_tenths_c < product.storage_min_tenths_c
        or (temp.max_tenths_c > product.storage_max_tenths_c)
    )


def _take_units(
    ws: WorkingState, holder: str, batch_id: str, unit_codes: tuple[str, ...], where: str
) -> list[UnitRow]:
    ws.prefetch(UnitRow, unit_codes)
    units = []
    for code in unit_codes:
        unit = ws.unit(code)
        if unit is None or unit.batch_id != batch_id or unit.holder != holder or unit.in_transit:
            why = (
                "is not registered"
                if unit is None
                else f"belongs to batch {unit.batch_id}"
                if unit.batch_id != batch_id
                else f"is held by {unit.holder}"
                if unit.holder != holder
                else f"is in transit on shipment {unit.in_transit}"
            )
            raise RuleViolation(
                "UNIT-NOT-HELD", f"{where}: traceability code {code} {why}, not held by {holder}"
            )
        units.append(unit)
    return units


def _shipment(ws: WorkingState, ctx: Context, r: _Rec, body: b.Shipment) -> LeafHeader:
    _same(r, body.shipper, "shipper")
    order = _known_order(ws, body.order)
    if order.seller != body.shipper or order.buyer != body.consignee:
        raise RuleViolation(
            "ORDER-PARTY",
            f"order {order.order_id} is from seller {order.seller} to buyer {order.buyer};"
            f" the shipment goes from {body.shipper} to {body.consignee}",
        )
    _refuse_closed(order)
    _not_before(r, order.ordered_at, "order")
    seller = r.actor
    assert seller is not None
    buyer = _party(ws, body.consignee, "consignee")
    if body.carrier is not None:
        _need_role(_party(ws, body.carrier, "carrier"), frozenset({"carrier"}), "carrier")
    temp = body.temperature
    order_lines = [dict(ln) for ln in order.line_list]
    taken_stock: dict[str, int] = {}
    lines = []
    excursion = False
    for i, line in enumerate(body.lines):
        where = f"line {i}"
        if line.order_line >= len(order_lines):
            raise RuleViolation(
                "ORDER-LINE",
                f"{where} names order line {line.order_line}; the order has {len(order_lines)}",
            )
        ol = order_lines[line.order_line]
        if ol["product"] != line.product or (ol["lot"] is not None and ol["lot"] != line.lot):
            want = ol["product"] + ("" if ol["lot"] is None else f" lot {ol['lot']}")
            raise RuleViolation(
                "ORDER-LINE",
                f"{where} ships {line.product} lot {line.lot};"
                f" order line {line.order_line} is for {want}",
            )
        product = _product(ws, line.product)
        batch_id = ws.batch_id_for(line.product, line.lot)
        batch = None if batch_id is None else ws.batch(batch_id)
        if batch is None:
            raise RuleViolation(
                "BATCH-UNKNOWN", f"{where}: lot {line.lot} of {line.product} is not registered"
            )
        if batch.expiry != line.expiry_date:
            raise RuleViolation(
                "LOT-EXPIRY-MISMATCH",
                f"{where}: lot {line.lot} expires on {batch.expiry_date},"
                f" the shipment says {line.expiry_date}",
            )
        if batch.status == "recalled":
            raise RuleViolation(
                "LOT-RECALLED",
                f"{where}: lot {line.lot} of {product.generic_name} is recalled"
                f" (level {batch.recall_level}, record {batch.status_record})",
            )
        if batch.status == "quarantined":
            raise RuleViolation(
                "LOT-QUARANTINED",
                f"{where}: lot {line.lot} of {product.generic_name} is quarantined"
                f" (record {batch.status_record})",
            )
        if batch.expiry <= r.day:
            raise RuleViolation(
                "LOT-EXPIRED",
                f"{where}: lot {line.lot} of {product.generic_name} expired on {batch.expiry_date}",
            )
        if product.cold_chain:
            if temp is None:
                raise RuleViolation(
                    "COLD-CHAIN-LOG",
                    f"{where}: {product.generic_name} is cold-chain"
                    f" ({_range(product)})"
                    " and the shipment carries no temperature log",
                )
            if temp.interval_s > ctx.config.max_log_interval_s:
                raise RuleViolation(
                    "COLD-CHAIN-LOG",
                    f"temperature log interval is {temp.interval_s} s,"
                    f" at most {ctx.config.max_log_interval_s} s in transport",
                )
        stock = ws.stock(body.shipper, batch.batch_id)
        want = taken_stock.get(batch.batch_id, 0) + line.quantity
        if want > stock.on_hand:
            raise RuleViolation(
                "STOCK-INSUFFICIENT",
                f"{where}: {_who(seller, body.shipper)} holds {stock.on_hand} of lot {line.lot}"
                f" of {product.generic_name}, the shipment needs {want}",
            )
        taken_stock[batch.batch_id] = want
        lacking = ol["quantity"] - (ol["shipped"] - ol["rejected"])
        if line.quantity > lacking:
            raise RuleViolation(
                "ORDER-EXCEEDED",
                f"{where}: order line {line.order_line} still lacks {lacking},"
                f" the shipment sends {line.quantity}",
            )
        check_trade(ws, seller, buyer, product, r.day)
        if batch.unit_coded and not line.unit_codes:
            raise RuleViolation(
                "UNIT-CODES-REQUIRED",
                f"{where}: lot {line.lot} was registered with traceability codes; the line"
                f" must list the {line.quantity} codes it ships",
            )
        units = (
            _take_units(ws, body.shipper, batch.batch_id, line.unit_codes, where)
            if line.unit_codes
            else []
        )
        for unit in units:
            ws.put(replace(unit, in_transit=r.id))
        ol["shipped"] += line.quantity
        out = product.cold_chain and _out_of_range(temp, product)
        excursion = excursion or out or bool(temp and temp.excursions)
        lines.append(
            {
                "batch": batch.batch_id,
                "product": line.product,
                "lot": line.lot,
                "quantity": line.quantity,
                "order_line": line.order_line,
                "accepted": 0,
                "rejected": 0,
                "returned": 0,
                "unit_codes": list(line.unit_codes),
                "out_of_range": out,
            }
        )
    for batch_id, quantity in taken_stock.items():
        stock = ws.stock(body.shipper, batch_id)
        ws.put(replace(stock, shipped=stock.shipped + quantity))
    _update_order(ws, order, order_lines)
    ws.put(
        ShipmentRow(
            shipment_id=r.id,
            kind="sale",
            order_id=order.order_id,
            shipper=body.shipper,
            consignee=body.consignee,
            carrier=body.carrier,
            shipped_at=r.time,
            lines=dumps(lines),
            temperature=None if temp is None else dumps(temp.to_dict()),
            excursion=int(excursion),
            status="in_transit",
            shipment_leaf=r.leaf,
        )
    )
    return PLAIN_HEADERS[LeafKind.SHIPMENT]


def _known_shipment(ws: WorkingState, shipment_id: str) -> ShipmentRow:
    s = ws.shipment(shipment_id)
    if s is None or s.kind != "sale":
        raise RuleViolation("SHIPMENT-UNKNOWN", f"shipment {shipment_id} is not on the ledger")
    return s


def _acceptance(ws: WorkingState, ctx: Context, r: _Rec, body: b.Acceptance) -> LeafHeader:
    s = _known_shipment(ws, body.shipment)
    if r.uscc != s.consignee:
        raise RuleViolation(
            "ACCEPT-NOT-CONSIGNEE",
            f"shipment {s.shipment_id} is consigned to {s.consignee}, not to {r.uscc}",
        )
    if s.status == "accepted":
        raise RuleViolation(
            "ACCEPT-TWICE",
            f"shipment {s.shipment_id} was already accepted by record {s.acceptance_id}",
        )
    if s.status == "cancelled":
        raise RuleViolation("SHIPMENT-CANCELLED", f"shipment {s.shipment_id} was cancelled")
    _not_before(r, s.shipped_at, "shipment")
    lines = [dict(ln) for ln in s.line_list]
    given = {line.line: line for line in body.lines}
    if set(given) != set(range(len(lines))):
        raise RuleViolation(
            "ACCEPT-LINES",
            f"the acceptance covers lines {sorted(given)}; shipment {s.shipment_id} has lines"
            f" {list(range(len(lines)))}",
        )
    buyer = r.actor
    assert buyer is not None
    order = _known_order(ws, s.order_id)
    order_lines = [dict(ln) for ln in order.line_list]
    moves: list[tuple[UnitRow, str]] = []
    for i, line in enumerate(lines):
        a = given[i]
        if a.accepted + a.rejected != line["quantity"]:
            raise RuleViolation(
                "ACCEPT-LINES",
                f"line {i}: accepted {a.accepted} + rejected {a.rejected} ="
                f" {a.accepted + a.rejected}, but {line['quantity']} were shipped",
            )
        product = _product(ws, line["product"])
        if line["out_of_range"] and a.accepted > 0:
            raise RuleViolation(
                "ACCEPT-COLD-EXCURSION",
                f"line {i}: the temperature log of shipment {s.shipment_id} left"
                f" {_range(product)}"
                f" for {product.generic_name} lot {line['lot']};"
                f" {a.accepted} units may not be accepted",
            )
        if a.accepted > 0:  # rejecting goods needs no licence: it is how they go back
            check_party(ws, buyer, "buyer", product, r.day)
        codes_in_line = line["unit_codes"]
        if codes_in_line:
            rejected_codes = set(a.rejected_unit_codes)
            if len(rejected_codes) != a.rejected or not rejected_codes <= set(codes_in_line):
                raise RuleViolation(
                    "ACCEPT-UNIT-CODES",
                    f"line {i}: {a.rejected} units rejected, want that many of the line's"
                    f" traceability codes in rejected_unit_codes, got {len(rejected_codes)}"
                    + ("" if rejected_codes <= set(codes_in_line) else " (some not in the line)"),
                )
            ws.prefetch(UnitRow, codes_in_line)
            for code in codes_in_line:
                unit = ws.unit(code)
                assert unit is not None
                moves.append((unit, s.shipper if code in rejected_codes else s.consignee))
        elif a.rejected_unit_codes:
            raise RuleViolation(
                "ACCEPT-UNIT-CODES", f"line {i} carried no traceability codes; none can be rejected"
            )
        line["accepted"], line["rejected"] = a.accepted, a.rejected
        ol = order_lines[line["order_line"]]
        ol["accepted"] += a.accepted
        ol["rejected"] += a.rejected
    # goods move: accepted into the consignee's stock, rejected back to the shipper's
    for line in lines:
        if line["accepted"]:
            st = ws.stock(s.consignee, line["batch"])
            ws.put(replace(st, received=st.received + line["accepted"]))
        if line["rejected"]:
            st = ws.stock(s.shipper, line["batch"])
            ws.put(replace(st, shipped=st.shipped - line["rejected"]))
    for unit, holder in moves:
        ws.put(replace(unit, holder=holder, in_transit=None))
        ws.append(UnitEventRow(unit.code, r.id, s.shipper, holder))
    order = _update_order(ws, order, order_lines)
    ws.put(
        replace(
            s,
            lines=dumps(lines),
            status="accepted",
            acceptance_id=r.id,
            acceptance_leaf=r.leaf,
            accepted_at=r.time,
        )
    )
    terms = order.escrow_terms
    if terms is None:
        return PLAIN_HEADERS[LeafKind.ACCEPTANCE]
    return LeafHeader(
        kind=LeafKind.ACCEPTANCE,
        chain_id=terms["chain_id"],
        escrow=bytes.fromhex(terms["contract"][2:]),
        order_id=bytes.fromhex(terms["order_id"]),
        buyer=bytes.fromhex(terms["buyer_address"][2:]),
        seller=bytes.fromhex(terms["seller_address"][2:]),
        amount=order.amount_due_fen * terms["units_per_fen"],
    )


def _return(ws: WorkingState, ctx: Context, r: _Rec, body: b.Return) -> LeafHeader:
    s = _known_shipment(ws, body.shipment)
    if r.uscc != s.consignee:
        raise RuleViolation(
            "RETURN-NOT-CONSIGNEE",
            f"shipment {s.shipment_id} went to {s.consignee}; {r.uscc} cannot return goods from it",
        )
    if s.status != "accepted" or s.accepted_at is None:
        raise RuleViolation(
            "RETURN-NOT-ACCEPTED", f"shipment {s.shipment_id} is {s.status}, nothing was accepted"
        )
    _not_before(r, s.accepted_at, "acceptance")
    lines = [dict(ln) for ln in s.line_list]
    order = _known_order(ws, s.order_id)
    order_lines = [dict(ln) for ln in order.line_list]
    out_lines = []
    taken: dict[str, int] = {}
    for rl in body.lines:
        where = f"line {rl.line}"
        if rl.line >= len(lines):
            raise RuleViolation(
                "RETURN-EXCEEDS", f"{where}: shipment {s.shipment_id} has {len(lines)} lines"
            )
        line = lines[rl.line]
        left = line["accepted"] - line["returned"]
        if rl.quantity > left:
            raise RuleViolation(
                "RETURN-EXCEEDS",
                f"{where}: {line['accepted']} accepted, {line['returned']} already returned;"
                f" {rl.quantity} cannot go back",
            )
        stock = ws.stock(r.uscc, line["batch"])
        want = taken.get(line["batch"], 0) + rl.quantity
        if want > stock.on_hand:
            raise RuleViolation(
                "STOCK-INSUFFICIENT",
                f"{where}: {r.uscc} holds {stock.on_hand} of lot {line['lot']},"
                f" the return needs {want}",
            )
        taken[line["batch"]] = want
        if line["unit_codes"] and not rl.unit_codes:
            raise RuleViolation(
                "UNIT-CODES-REQUIRED",
                f"{where}: lot {line['lot']} moves with traceability codes; the return must"
                f" list the {rl.quantity} codes it sends back",
            )
        if rl.unit_codes:
            for unit in _take_units(ws, r.uscc, line["batch"], rl.unit_codes, where):
                ws.put(replace(unit, holder=s.shipper))
                ws.append(UnitEventRow(unit.code, r.id, r.uscc, s.shipper))
        line["returned"] += rl.quantity
        order_lines[line["order_line"]]["returned"] += rl.quantity
        out_lines.append(
            {
                "batch": line["batch"],
                "product": line["product"],
                "lot": line["lot"],
                "quantity": rl.quantity,
                "order_line": line["order_line"],
                "accepted": rl.quantity,
                "rejected": 0,
                "returned": 0,
                "unit_codes": list(rl.unit_codes),
                "out_of_range": False,
            }
        )
    for batch_id, quantity in taken.items():
        st = ws.stock(r.uscc, batch_id)
        ws.put(replace(st, shipped=st.shipped + quantity))
        back = ws.stock(s.shipper, batch_id)
        ws.put(replace(back, received=back.received + quantity))
    _update_order(ws, order, order_lines)
    ws.put(replace(s, lines=dumps(lines)))
    ws.put(
        ShipmentRow(
            shipment_id=r.id,
            kind="return",
            order_id=s.order_id,
            shipper=r.uscc,
            consignee=s.shipper,
            carrier=None,
            shipped_at=r.time,
            lines=dumps(out_lines),
            temperature=None,
            excursion=0,
            status="accepted",
            shipment_leaf=r.leaf,
            acceptance_id=r.id,
            acceptance_leaf=r.leaf,
            accepted_at=r.time,
            reverses=s.shipment_id,
        )
    )
    return PLAIN_HEADERS[LeafKind.RETURN]


# -- disputes ----------------------------------------------------------------------------------
def _dispute(ws: WorkingState, ctx: Context, r: _Rec, body: b.Dispute) -> LeafHeader:
    order = _known_order(ws, body.order)
    if r.uscc not in (order.buyer, order.seller):
        raise RuleViolation(
            "DISPUTE-PARTY", f"{r.uscc} is neither buyer nor seller of order {order.order_id}"
        )
    if order.dispute_id is not None:
        raise RuleViolation(
            "DISPUTE-OPEN", f"order {order.order_id} already has dispute {order.dispute_id}"
        )
    _refuse_closed(order)
    _not_before(r, order.ordered_at, "order")
    ws.put(DisputeRow(r.id, order.order_id, r.uscc, r.time, body.reason))
    ws.put(replace(order, dispute_id=r.id, payment_status="disputed"))
    return PLAIN_HEADERS[LeafKind.DISPUTE]


def _resolution(ws: WorkingState, ctx: Context, r: _Rec, body: b.DisputeResolution) -> LeafHeader:
    d = ws.get(DisputeRow, body.dispute)
    if d is None:
        raise RuleViolation("DISPUTE-UNKNOWN", f"dispute {body.dispute} is not on the ledger")
    if d.resolution_id is not None:
        raise RuleViolation(
            "RESOLUTION-TWICE", f"dispute {d.dispute_id} was resolved by {d.resolution_id}"
        )
    _not_before(r, d.opened_at, "dispute")
    order = _known_order(ws, d.order_id)
    split = body.to_seller_fen + body.to_buyer_fen
    if split != order.total_fen:
        raise RuleViolation(
            "RESOLUTION-SPLIT",
            f"the split gives {split} fen, the order's total is {order.total_fen} fen",
        )
    ws.put(
        replace(
            d, resolution_id=r.id, to_seller_fen=body.to_seller_fen, to_buyer_fen=body.to_buyer_fen
        )
    )
    ws.put(replace(order, payment_status="resolved"))
    return PLAIN_HEADERS[LeafKind.DISPUTE_RESOLUTION]


# -- corrections -------------------------------------------------------------------------------
def _correction(ws: WorkingState, ctx: Context, r: _Rec, body: b.Correction) -> LeafHeader:
    target_id = r.signed.record.supersedes
    if target_id is None:
        raise RuleViolation(
            "CORR-TARGET-UNKNOWN", "a correction must name the record it supersedes"
        )
    target = ws.record(target_id)
    if target is None:
        raise RuleViolation("CORR-TARGET-UNKNOWN", f"record {target_id} is not on the ledger")
    if target.superseded_by is not None:
        raise RuleViolation(
            "CORR-TWICE", f"record {target_id} was superseded by {target.superseded_by}"
        )
    reviewer_fix = (
        target.type == "qualification" and r.actor is not None and ("reviewer" in r.actor.role_set)
    )
    if target.actor != r.uscc and not reviewer_fix:
        raise RuleViolation(
            "CORR-NOT-AUTHOR", f"record {target_id} was signed by {target.actor}, not by {r.uscc}"
        )
    _not_before(r, target.time, target.type)
    if target.type == "qualification":
        q = ws.get(QualRow, target_id)
        assert q is not None
        ws.put(replace(q, withdrawn_by=r.id))
        ws.qualifications_changed()
    elif target.type == "invoice":
        inv = ws.get(InvoiceRow, target_id)
        assert inv is not None
        ws.put(replace(inv, voided_by=r.id))
    elif target.type == "order":
        order = _known_order(ws, target_id)
        if any(ln["shipped"] for ln in order.line_list):
            raise RuleViolation(
                "CORR-TOO-LATE", f"order {target_id} has shipments; cancel them first"
            )
        if order.dispute_id is not None:
            raise RuleViolation(
                "CORR-TOO-LATE",
                f"order {target_id} has dispute {order.dispute_id}; the arbiter settles it",
            )
        ws.put(
            replace(
                order,
                status="cancelled",
                payment_status="cancelled" if order.escrow else "no_escrow",
            )
        )
    elif target.type == "shipment":
        s = _known_shipment(ws, target_id)
        if s.status != "in_transit":
            raise RuleViolation(
                "CORR-TOO-LATE",
                f"shipment {target_id} is {s.status}; only one in transit is cancelled",
            )
        order = _known_order(ws, s.order_id)
        order_lines = [dict(ln) for ln in order.line_list]
        for line in s.line_list:
            st = ws.stock(s.shipper, line["batch"])
            ws.put(replace(st, shipped=st.shipped - line["quantity"]))
            order_lines[line["order_line"]]["shipped"] -= line["quantity"]
            for code in line["unit_codes"]:
                unit = ws.unit(code)
                assert unit is not None
                ws.put(replace(unit, in_transit=None))
        _update_order(ws, order, order_lines)
        ws.put(replace(s, status="cancelled"))
    else:
        raise RuleViolation(
            "CORR-UNSUPPORTED",
            f"a {target.type} record cannot be corrected; corrections apply to qualifications,"
            " invoices, orders without shipments and shipments in transit",
        )
    ws.put(replace(target, superseded_by=r.id))
    return PLAIN_HEADERS[LeafKind.CORRECTION]


_HANDLERS: dict[str, Callable[[WorkingState, Context, _Rec, Any], LeafHeader]] = {
    "enrolment": _enrolment,
    "key_rotation": _key_rotation,
    "key_revocation": _key_revocation,
    "qualification": _qualification,
    "product": _product_rec,
    "batch": _batch,
    "order": _order,
    "invoice": _invoice,
    "shipment": _shipment,
    "acceptance": _acceptance,
    "return": _return,
    "recall": _recall,
    "dispute": _dispute,
    "dispute_resolution": _resolution,
    "correction": _correction,
}


def record_moment(text: str) -> datetime:
    return parse_time(text)
