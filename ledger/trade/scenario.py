"""A reusable generator of realistic trade stories for tests, the benchmark and the demo.

``Scenario`` is a participant's-eye record builder with a clock: it makes parties (valid
USCCs, Ed25519 keys, EVM addresses), and signs enrolments (as the consortium admin),
licences (as the reviewer), products, batches, orders, shipments with temperature logs,
acceptances, returns, recalls, invoices, disputes and corrections. It remembers what it built
(lots and their expiry dates, orders and their lines) so a test names only what matters.
Everything is deterministic from the seed.

``trade_story(scn)`` is the story the tests and the demo tell: an insulin (cold chain) goes
MAH → distributor → second distributor → public hospital, with a partial acceptance, a
shipment refused for a temperature excursion, a return and a recall.

``BulkStory`` generates a large realistic ledger in chunks (one batch reaching a thousand
holders, then many ordinary cycles) for ``scripts/bench_trace.py``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.records import SignedRecord, SigningKey, format_time, make_record
from ledger.trade import codes
from ledger.trade.uscc import CHARSET, make_uscc

ADMIN_ID = "consortium-admin"
ESCROW_CONTRACT = "0x" + "e5" * 20
DEFAULT_START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Party:
    name: str
    uscc: str
    roles: tuple[str, ...]
    key: SigningKey = field(repr=False, compare=False)
    evm_address: str
    region: str
    public: bool | None = None
    deemed_manufacturer: str | None = None


class Scenario:
    """Builds signed records for a story, with a clock that moves ``step`` per record."""

    def __init__(
        self,
        seed: int | str = 0,
        start: datetime = DEFAULT_START,
        step: timedelta = timedelta(minutes=1),
        *,
        chain_id: int = 131277322940537,
        escrow_contract: str = ESCROW_CONTRACT,
        units_per_fen: int = 10**16,
    ) -> None:
        self.seed = str(seed)
        self.chain_id = chain_id
        self.escrow_contract = escrow_contract.lower()
        self.units_per_fen = units_per_fen
        self.rng = random.Random(self.seed)
        self.clock = start
        self.step = step
        self.admin = self._key("admin")
        self.parties: dict[str, Party] = {}
        self.lots: dict[tuple[str, str], dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._serial = 0
        self._uscc_counter = 0
        self.reviewer: Party | None = None

    # -- basics ---------------------------------------------------------------------------
    def _key(self, label: str) -> SigningKey:
        return SigningKey(hashlib.sha256(f"lotproof/{self.seed}/{label}".encode()).digest())

    @property
    def admin_keys(self) -> dict[str, bytes]:
        return {ADMIN_ID: self.admin.public_key}

    def now(self) -> str:
        return format_time(self.clock)

    def today(self) -> date:
        return (self.clock + timedelta(hours=8)).date()

    def advance(self, delta: timedelta) -> None:
        self.clock += delta

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.seed}-{self._counter:08d}"

    def sign(
        self,
        signer: Party | None,
        type: str,
        body: dict[str, Any],
        *,
        record_id: str | None = None,
        supersedes: str | None = None,
        key: SigningKey | None = None,
    ) -> SignedRecord:
        """Sign as ``signer`` (``None``: the consortium admin); the clock moves one step."""
        self.clock += self.step
        actor = ADMIN_ID if signer is None else signer.uscc
        use = key or (self.admin if signer is None else signer.key)
        return make_record(
            use,
            type,
            actor,
            body,
            time=self.now(),
            record_id=record_id or self.next_id(type[:4]),
            supersedes=supersedes,
        )

    # -- parties ----------------------------------------------------------------------------
    def new_uscc(self) -> str:
        """A fresh valid USCC: three characters from the seed, six from a counter."""
        self._uscc_counter += 1
        n = self._uscc_counter
        salt = "".join(CHARSET[c % 31] for c in hashlib.sha256(self.seed.encode()).digest()[:3])
        count = "".join(CHARSET[(n // 31**i) % 31] for i in range(6))[::-1]
        return make_uscc(f"91440100{salt}{count}")

    def party(
        self,
        name: str,
        roles: Sequence[str],
        *,
        region: str = "440100",
        public: bool | None = None,
        deemed_manufacturer: str | None = None,
    ) -> Party:
        uscc = self.new_uscc()
        evm = "0x" + hashlib.sha256(f"evm/{self.seed}/{uscc}".encode()).digest()[:20].hex()
        if "hospital" in roles and public is None:
            public = True
        p = Party(
            name,
            uscc,
            tuple(roles),
            self._key(f"party/{uscc}"),
            evm,
            region,
            public,
            deemed_manufacturer,
        )
        self.parties[name] = p
        return p

    def enrol(self, p: Party) -> SignedRecord:
        body: dict[str, Any] = {
            "uscc": p.uscc,
            "name": p.name,
            "roles": list(p.roles),
            "keys": [p.key.public_key.hex()],
            "region": p.region,
            "evm_address": p.evm_address,
        }
        if p.public is not None:
            body["public"] = p.public
        if p.deemed_manufacturer is not None:
            body["deemed_manufacturer"] = p.deemed_manufacturer
        return self.sign(None, "enrolment", body)

    def licence(
        self,
        p: Party,
        kind: str,
        scope: Sequence[str] = (),
        *,
        valid_from: date = date(2024, 1, 1),
        valid_to: date | None = date(2030, 12, 31),
        number: str | None = None,
        verdict: str = "approved",
        holder_name: str | None = None,
    ) -> SignedRecord:
        assert self.reviewer is not None, "enrol a reviewer first (Scenario.reviewer)"
        if number is None:
            number = self.licence_number(kind, p)
        body = {
            "holder": p.uscc,
            "holder_name": holder_name or p.name,
            "kind": kind,
            "number": number,
            "scope": sorted(scope),
            "authority": "广东省药品监督管理局",
            "valid_from": valid_from.isoformat(),
            "valid_to": None if valid_to is None else valid_to.isoformat(),
            "document_sha256": hashlib.sha256(
                f"scan/{p.uscc}/{kind}/{number}".encode()
            ).hexdigest(),
            "verdict": verdict,
        }
        return self.sign(self.reviewer, "qualification", body)

    def licence_number(self, kind: str, p: Party) -> str:
        n = self.rng.randrange(10**7)
        if kind == codes.BUSINESS_LICENCE:
            return p.uscc
        if kind == codes.DISTRIBUTION_LICENCE:
            letter = "D" if "pharmacy" in p.roles else "A"
            return f"粤{letter}A{n:07d}"
        if kind == codes.MANUFACTURING_LICENCE:
            return f"粤{n:08d}"
        if kind == codes.MEDICAL_INSTITUTION_LICENCE:
            return f"PDY{n:08d}44010011A1001"[:22]
        return f"YJK-{n:07d}"

    def role_licences(
        self, p: Party, scope: Sequence[str], *, valid_to: date | None = date(2030, 12, 31)
    ) -> list[SignedRecord]:
        """The business licence plus each trading role's licence, with ``scope``."""
        out = [self.licence(p, codes.BUSINESS_LICENCE, valid_to=valid_to)]
        kinds = sorted({k for r in p.roles for k in codes.ROLE_LICENCES.get(r, ())})
        for kind in kinds:
            out.append(self.licence(p, kind, scope, valid_to=valid_to))
        return out

    def onboard(
        self, p: Party, scope: Sequence[str] = (), *, valid_to: date | None = date(2030, 12, 31)
    ) -> list[SignedRecord]:
        """Enrolment plus licences (none for non-trading roles)."""
        out = [self.enrol(p)]
        if set(p.roles) & codes.HOLDER_ROLES or "carrier" in p.roles:
            out += self.role_licences(p, scope, valid_to=valid_to)
        return out

    def new_reviewer(self, name: str = "联盟资质审核中心") -> tuple[Party, SignedRecord]:
        self.reviewer = self.party(name, ["reviewer"])
        return self.reviewer, self.enrol(self.reviewer)

    # -- products and batches -----------------------------------------------------------------
    def product(
        self,
        mah: Party,
        code: str,
        generic_name: str,
        *,
        category: str = codes.CHEMICAL,
        storage: tuple[int, int] = (20, 250),
        special_class: str | None = None,
        manufacturers: Sequence[Party] = (),
        approval_number: str | None = None,
    ) -> SignedRecord:
        letter = {codes.CHEMICAL: "H", codes.CHINESE_PATENT: "Z", codes.TCM_PIECES: "Z"}.get(
            category, "S"
        )
        body: dict[str, Any] = {
            "code": code,
            "generic_name": generic_name,
            "dosage_form": "注射剂" if letter == "S" else "片剂",
            "strength": "3ml:300单位" if letter == "S" else "0.25g",
            "pack_size": "1支/盒" if letter == "S" else "24片/盒",
            "approval_number": approval_number or f"国药准字{letter}2019{int(code) % 10**4:04d}",
            "category": category,
            "special_class": special_class,
            "storage_min_tenths_c": storage[0],
            "storage_max_tenths_c": storage[1],
            "mah": mah.uscc,
        }
        if manufacturers:
            body["manufacturers"] = [m.uscc for m in manufacturers]
        return self.sign(mah, "product", body)

    def unit_codes(self, product: str, count: int) -> list[str]:
        start = self._serial
        self._serial += count
        return [f"{product}{n:013d}" for n in range(start, start + count)]

    def batch(
        self,
        registrant: Party,
        product: str,
        lot: str,
        quantity: int,
        *,
        mfg: date | None = None,
        expiry: date | None = None,
        with_unit_codes: bool = False,
        record_id: str | None = None,
    ) -> SignedRecord:
        mfg = mfg or self.today() - timedelta(days=30)
        expiry = expiry or mfg + timedelta(days=730)
        body: dict[str, Any] = {
            "product": product,
            "lot": lot,
            "mfg_date": mfg.isoformat(),
            "expiry_date": expiry.isoformat(),
            "quantity": quantity,
            "test_report_sha256": hashlib.sha256(f"coa/{product}/{lot}".encode()).hexdigest(),
        }
        units = self.unit_codes(product, quantity) if with_unit_codes else []
        if units:
            body["unit_codes"] = units
        rec = self.sign(registrant, "batch", body, record_id=record_id)
        self.lots[(product, lot)] = {
            "expiry": expiry,
            "units": {registrant.uscc: list(units)},
            "batch_id": rec.record.id,
        }
        return rec

    # -- orders, shipments, acceptance ------------------------------------------------------------
    def escrow_terms(self, buyer: Party, seller: Party, order_id: str) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": self.escrow_contract,
            "order_id": hashlib.sha256(f"escrow/{order_id}".encode()).hexdigest(),
            "buyer_address": buyer.evm_address,
            "seller_address": seller.evm_address,
            "units_per_fen": self.units_per_fen,
        }

    def order(
        self,
        buyer: Party,
        seller: Party,
        lines: Sequence[tuple[str, int, int] | tuple[str, int, int, str]],
        *,
        escrow: bool = False,
        number: str | None = None,
    ) -> SignedRecord:
        """``lines``: (product, quantity, unit price in fen[, lot])."""
        order_id = self.next_id("ordr")
        body_lines = []
        for line in lines:
            entry: dict[str, Any] = {
                "product": line[0],
                "quantity": line[1],
                "unit_price_fen": line[2],
            }
            if len(line) > 3:
                entry["lot"] = line[3]
            body_lines.append(entry)
        body: dict[str, Any] = {
            "buyer": buyer.uscc,
            "seller": seller.uscc,
            "number": number or f"PO{self._counter:08d}",
            "lines": body_lines,
            "total_fen": sum(ln[1] * ln[2] for ln in lines),
            "requested_delivery": (self.today() + timedelta(days=7)).isoformat(),
        }
        if escrow:
            body["escrow"] = self.escrow_terms(buyer, seller, order_id)
        rec = self.sign(buyer, "order", body, record_id=order_id)
        self.orders[order_id] = {"buyer": buyer, "seller": seller, "lines": body_lines}
        return rec

    def temperature(self, *, excursion: bool = False, interval_s: int = 120) -> dict[str, Any]:
        start = self.clock
        log: dict[str, Any] = {
            "device": f"TL-{self.rng.randrange(10**4):04d}",
            "interval_s": interval_s,
            "min_tenths_c": 31,
            "max_tenths_c": 112 if excursion else 68,
            "mean_tenths_c": 52,
            "excursions": [],
            "readings_sha256": hashlib.sha256(f"readings/{self._counter}".encode()).hexdigest(),
            "readings_count": 720,
        }
        if excursion:
            log["excursions"] = [
                {
                    "start": format_time(start - timedelta(hours=3)),
                    "end": format_time(start - timedelta(hours=2, minutes=20)),
                    "peak_tenths_c": 112,
                }
            ]
        return log

    def ship(
        self,
        order: SignedRecord,
        lines: Sequence[tuple[int, str, int]],
        *,
        carrier: Party | None = None,
        temperature: dict[str, Any] | None = None,
        with_unit_codes: bool | None = None,
        expiry: date | None = None,
    ) -> SignedRecord:
        """``lines``: (order line, lot, quantity); product and expiry come from the order and
        the lot. Unit codes travel when the lot has them (unless ``with_unit_codes=False``)."""
        info = self.orders[order.record.id]
        seller: Party = info["seller"]
        buyer: Party = info["buyer"]
        body_lines = []
        taken: list[list[str]] = []
        for order_line, lot, quantity in lines:
            product = info["lines"][order_line]["product"]
            lot_info = self.lots.get(
                (product, lot), {"expiry": expiry or self.today(), "units": {}}
            )
            entry: dict[str, Any] = {
                "order_line": order_line,
                "product": product,
                "lot": lot,
                "expiry_date": (expiry or lot_info["expiry"]).isoformat(),
                "quantity": quantity,
            }
            held = lot_info["units"].get(seller.uscc, [])
            units: list[str] = []
            if held and with_unit_codes is not False and len(held) >= quantity:
                units = held[:quantity]
                entry["unit_codes"] = units
            taken.append(units)
            body_lines.append(entry)
        body: dict[str, Any] = {
            "order": order.record.id,
            "shipper": seller.uscc,
            "consignee": buyer.uscc,
            "lines": body_lines,
        }
        if carrier is not None:
            body["carrier"] = carrier.uscc
        if temperature is not None:
            body["temperature"] = temperature
        rec = self.sign(seller, "shipment", body)
        self.shipments[rec.record.id] = {
            "order": order.record.id,
            "seller": seller,
            "buyer": buyer,
            "lines": body_lines,
            "units": taken,
        }
        return rec

    def accept(
        self,
        shipment: SignedRecord,
        rejected: dict[int, tuple[int, Sequence[str]]] | None = None,
    ) -> SignedRecord:
        """Accept every line, except ``rejected``: line -> (how many, reasons)."""
        info = self.shipments[shipment.record.id]
        rejected = rejected or {}
        lines = []
        for i, line in enumerate(info["lines"]):
            r, reasons = rejected.get(i, (0, ()))
            entry: dict[str, Any] = {"line": i, "accepted": line["quantity"] - r, "rejected": r}
            if r:
                entry["reasons"] = list(reasons)
            units = info["units"][i]
            if units and r:
                entry["rejected_unit_codes"] = units[-r:]
            lines.append(entry)
            self._move_units(line, info["seller"], info["buyer"], units, r)
        return self.sign(
            info["buyer"], "acceptance", {"shipment": shipment.record.id, "lines": lines}
        )

    def _move_units(
        self, line: dict[str, Any], seller: Party, buyer: Party, units: list[str], rejected: int
    ) -> None:
        if not units:
            return
        held = self.lots[(line["product"], line["lot"])]["units"]
        kept = units[: len(units) - rejected]
        held[seller.uscc] = [u for u in held.get(seller.uscc, []) if u not in set(kept)]
        held.setdefault(buyer.uscc, []).extend(kept)

    def return_goods(
        self, shipment: SignedRecord, lines: Sequence[tuple[int, int]], reason: str = "包装破损"
    ) -> SignedRecord:
        """The consignee sends back (line, quantity) of an accepted shipment."""
        info = self.shipments[shipment.record.id]
        buyer: Party = info["buyer"]
        seller: Party = info["seller"]
        body_lines = []
        for line_no, quantity in lines:
            line = info["lines"][line_no]
            entry: dict[str, Any] = {"line": line_no, "quantity": quantity}
            held = self.lots[(line["product"], line["lot"])]["units"]
            mine = held.get(buyer.uscc, [])
            if info["units"][line_no] and len(mine) >= quantity:
                back = mine[:quantity]
                entry["unit_codes"] = back
                held[buyer.uscc] = mine[quantity:]
                held.setdefault(seller.uscc, []).extend(back)
            body_lines.append(entry)
        return self.sign(
            buyer, "return", {"shipment": shipment.record.id, "lines": body_lines, "reason": reason}
        )

    def recall(
        self,
        mah: Party,
        product: str,
        lots: Sequence[str],
        *,
        level: str | None = "II",
        action: str = "recall",
        reason: str = "稳定性考察含量不合格",
    ) -> SignedRecord:
        body: dict[str, Any] = {"product": product, "lots": list(lots), "reason": reason}
        if action != "recall":
            body["action"] = action
        elif level is not None:
            body["level"] = level
        return self.sign(mah, "recall", body)

    def invoice(
        self,
        order: SignedRecord,
        *,
        lot: str,
        quantity: int | None = None,
        upstream: Sequence[SignedRecord] = (),
    ) -> SignedRecord:
        info = self.orders[order.record.id]
        line = info["lines"][0]
        q = quantity if quantity is not None else line["quantity"]
        amount = q * line["unit_price_fen"]
        body: dict[str, Any] = {
            "number": f"{self.rng.randrange(10**8):08d}",
            "seller": info["seller"].uscc,
            "buyer": info["buyer"].uscc,
            "order": order.record.id,
            "lines": [
                {"product": line["product"], "lot": lot, "quantity": q, "amount_fen": amount}
            ],
            "total_fen": amount,
        }
        if upstream:
            body["upstream"] = [u.record.id for u in upstream]
        return self.sign(info["seller"], "invoice", body)

    def correction(
        self, signer: Party, target: SignedRecord, reason: str = "录入错误"
    ) -> SignedRecord:
        return self.sign(signer, "correction", {"reason": reason}, supersedes=target.record.id)


# -- the story the tests and the demo tell -------------------------------------------------------
INSULIN = "8612345"
AMOXICILLIN = "8600321"
INSULIN_LOT = "INS2603A"


@dataclass
class Story:
    """What ``trade_story`` built, by name, and the records in submission order."""

    scn: Scenario
    records: list[SignedRecord]
    parties: dict[str, Party]
    ids: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


def cast(scn: Scenario) -> tuple[dict[str, Party], list[SignedRecord]]:
    """The participants of the story, enrolled and licensed (first records of every test)."""
    reviewer, rec = scn.new_reviewer()
    records = [rec]
    wide = [codes.CHEMICAL, codes.BIOLOGICS, codes.COLD_CHAIN, codes.CHINESE_PATENT]
    p = {
        "reviewer": reviewer,
        "mah": scn.party("通化某生物制药有限公司", ["mah", "manufacturer"], region="220500"),
        "dist1": scn.party("广州某医药有限公司", ["distributor"], region="440100"),
        "dist2": scn.party("深圳某医药有限公司", ["distributor"], region="440300"),
        "hospital": scn.party("广州市某人民医院", ["hospital"], region="440100", public=True),
        "carrier": scn.party("某医药供应链有限公司", ["carrier"], region="440100"),
        "arbiter": scn.party("联盟仲裁委员会", ["arbiter"], region="440100"),
    }
    for name in ("mah", "dist1", "dist2", "hospital", "carrier", "arbiter"):
        records += scn.onboard(p[name], wide)
    records.append(
        scn.product(
            p["mah"], INSULIN, "甘精胰岛素注射液", category=codes.BIOLOGICS, storage=(20, 80)
        )
    )
    records.append(scn.product(p["mah"], AMOXICILLIN, "阿莫西林胶囊"))
    return p, records


def trade_story(scn: Scenario | None = None) -> Story:
    scn = scn or Scenario("story")
    p, records = cast(scn)
    ids: dict[str, str] = {}
    mah, d1, d2, hosp, carrier = p["mah"], p["dist1"], p["dist2"], p["hospital"], p["carrier"]

    def add(name: str, rec: SignedRecord) -> SignedRecord:
        ids[name] = rec.record.id
        records.append(rec)
        return rec

    add("batch", scn.batch(mah, INSULIN, INSULIN_LOT, 200, with_unit_codes=True))
    cold = scn.temperature
    o1 = add("order1", scn.order(d1, mah, [(INSULIN, 120, 4500)], escrow=True))
    s1 = add("ship1", scn.ship(o1, [(0, INSULIN_LOT, 120)], carrier=carrier, temperature=cold()))
    add("accept1", scn.accept(s1))
    i1 = add("invoice1", scn.invoice(o1, lot=INSULIN_LOT))
    o2 = add("order2", scn.order(d2, d1, [(INSULIN, 60, 4800)]))
    s2 = add("ship2", scn.ship(o2, [(0, INSULIN_LOT, 60)], carrier=carrier, temperature=cold()))
    add("accept2", scn.accept(s2))
    i2 = add("invoice2", scn.invoice(o2, lot=INSULIN_LOT, upstream=[i1]))
    o3 = add("order3", scn.order(hosp, d2, [(INSULIN, 40, 5200)], escrow=True))
    s3 = add("ship3", scn.ship(o3, [(0, INSULIN_LOT, 40)], carrier=carrier, temperature=cold()))
    add("accept3", scn.accept(s3, {0: (4, ["damaged"])}))
    add("invoice3", scn.invoice(o3, lot=INSULIN_LOT, quantity=36, upstream=[i2]))
    o4 = add("order4", scn.order(hosp, d1, [(INSULIN, 20, 5000)]))
    s4 = add(
        "ship4",
        scn.ship(o4, [(0, INSULIN_LOT, 20)], carrier=carrier, temperature=cold(excursion=True)),
    )
    add("accept4", scn.accept(s4, {0: (20, ["temperature_excursion"])}))
    s5 = add("ship5", scn.ship(o4, [(0, INSULIN_LOT, 20)], carrier=carrier, temperature=cold()))
    add("accept5", scn.accept(s5))
    add("invoice4", scn.invoice(o4, lot=INSULIN_LOT, upstream=[i1]))
    add("return", scn.return_goods(s3, [(0, 6)]))
    add("recall", scn.recall(mah, INSULIN, [INSULIN_LOT], level="II"))
    return Story(scn, records, p, ids)


# -- a large ledger for the benchmark ----------------------------------------------------------
class BulkStory:
    """A large, realistic ledger in chunks of about ``chunk`` records.

    Setup: a reviewer, ``mahs`` MAHs with five products each (a third cold chain),
    ``distributors`` wholesalers, ``hospitals`` public hospitals, pharmacies and carriers,
    each enrolled and licensed. Then one "wide" batch that reaches ``wide_holders`` holders
    (MAH → 20 distributors → hospitals, each hop order + shipment + acceptance + invoice),
    then ordinary cycles (a batch, a sale to a distributor, sales on to hospitals and
    pharmacies, some partial rejections, returns and quarantines) until ``records`` records.
    """

    def __init__(
        self,
        records: int,
        *,
        seed: int | str = "bulk",
        wide_holders: int = 1000,
        chunk: int = 1000,
        mahs: int = 10,
        distributors: int = 50,
    ) -> None:
        self.target = records
        self.chunk = chunk
        self.wide_holders = wide_holders
        self.scn = Scenario(seed, step=timedelta(seconds=3))
        self.n_mahs = mahs
        self.n_distributors = distributors
        self.wide_batch_id = ""
        self.wide_product = ""
        self.count = 0
        self.kinds: dict[str, int] = {}

    def __iter__(self) -> Iterator[list[SignedRecord]]:
        buf: list[SignedRecord] = []
        for rec in self._records():
            buf.append(rec)
            self.kinds[rec.record.type] = self.kinds.get(rec.record.type, 0) + 1
            if len(buf) >= self.chunk:
                yield buf
                buf = []
        if buf:
            yield buf

    def _emit(self, recs: Sequence[SignedRecord]) -> Iterator[SignedRecord]:
        for r in recs:
            if self.count >= self.target:
                return
            self.count += 1
            yield r

    def _records(self) -> Iterator[SignedRecord]:
        scn = self.scn
        rng = scn.rng
        scope = [codes.CHEMICAL, codes.BIOLOGICS, codes.COLD_CHAIN, codes.CHINESE_PATENT]
        _, rec = scn.new_reviewer()
        yield from self._emit([rec])
        n_dist = max(self.n_distributors, 20)
        wide_dist = 20
        per_dist = max(1, -(-(self.wide_holders - 1 - wide_dist) // wide_dist))
        n_hosp = max(per_dist * wide_dist, 50)
        mahs = [
            scn.party(f"MAH {i:02d} 制药有限公司", ["mah", "manufacturer"])
            for i in range(self.n_mahs)
        ]
        dists = [scn.party(f"经销商 {i:03d} 医药有限公司", ["distributor"]) for i in range(n_dist)]
        hosps = [scn.party(f"医院 {i:04d}", ["hospital"], public=True) for i in range(n_hosp)]
        pharm = [scn.party(f"药房 {i:03d}", ["pharmacy"]) for i in range(max(10, n_hosp // 10))]
        carriers = [scn.party(f"物流 {i}", ["carrier"]) for i in range(3)]
        for p in [*mahs, *dists, *hosps, *pharm, *carriers]:
            yield from self._emit(scn.onboard(p, scope))
        products: list[tuple[Party, str, bool]] = []
        for i, m in enumerate(mahs):
            for j in range(5):
                code = f"86{i:03d}{j:02d}"
                cold = j % 3 == 0
                yield from self._emit(
                    [
                        scn.product(
                            m,
                            code,
                            f"产品 {code}",
                            category=codes.BIOLOGICS if cold else codes.CHEMICAL,
                            storage=(20, 80) if cold else (20, 250),
                        )
                    ]
                )
                products.append((m, code, cold))
        # the wide batch
        mah, code, _ = next(p for p in products if p[2])
        self.wide_product = code
        lot = "WIDE0001"
        per_hosp = 100
        qty = wide_dist * per_dist * per_hosp + wide_dist * 10
        b = scn.batch(mah, code, lot, qty)
        self.wide_batch_id = b.record.id
        yield from self._emit([b])
        hi = 0
        for d in dists[:wide_dist]:
            q = per_dist * per_hosp + 10
            yield from self._emit(self._sale(d, mah, code, lot, q, True, carriers[0]))
            for _ in range(per_dist):
                if hi >= len(hosps) or 1 + wide_dist + hi >= self.wide_holders:
                    break
                yield from self._emit(
                    self._sale(hosps[hi], d, code, lot, per_hosp, True, carriers[1])
                )
                hi += 1
        # ordinary cycles
        cycle = 0
        while self.count < self.target:
            cycle += 1
            mah, code, cold = products[rng.randrange(len(products))]
            lot = f"L{cycle:07d}"
            yield from self._emit([scn.batch(mah, code, lot, 5000)])
            d = dists[rng.randrange(len(dists))]
            yield from self._emit(
                self._sale(d, mah, code, lot, 1000, cold, carriers[0], escrow=True)
            )
            on_hand = 1000
            buyers = [
                hosps[rng.randrange(len(hosps))]
                if rng.random() < 0.8
                else pharm[rng.randrange(len(pharm))]
                for _ in range(4)
            ]
            for buyer in dict.fromkeys(buyers):
                q = rng.randrange(20, 200)
                if q > on_hand:
                    break
                reject = rng.randrange(1, 5) if rng.random() < 0.05 else 0
                recs = self._sale(buyer, d, code, lot, q, cold, carriers[2], reject=reject)
                on_hand -= q - reject
                yield from self._emit(recs)
                if rng.random() < 0.02:
                    yield from self._emit([scn.return_goods(recs[1], [(0, 1)])])
            if cycle % 200 == 0:
                yield from self._emit([scn.recall(mah, code, [lot], action="quarantine")])

    def _sale(  # noqa: PLR0917
        self,
        buyer: Party,
        seller: Party,
        code: str,
        lot: str,
        quantity: int,
        cold: bool,
        carrier: Party,
        *,
        escrow: bool = False,
        reject: int = 0,
    ) -> list[SignedRecord]:
        scn = self.scn
        o = scn.order(buyer, seller, [(code, quantity, 1250, lot)], escrow=escrow)
        s = scn.ship(
            o,
            [(0, lot, quantity)],
            carrier=carrier,
            temperature=scn.temperature() if cold else None,
        )
        a = scn.accept(s, {0: (reject, ["damaged"])} if reject else None)
        i = scn.invoice(o, lot=lot, quantity=quantity - reject)
        return [o, s, a, i]
