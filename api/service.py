"""The service behind the routes: ledger, log, sequencer, chain, auth and proof bundles.

Routes stay thin: they parse the request, call one method here with the caller's
``Principal`` and return what it returns. Everything that decides who may read what, and
everything that assembles proof bundles, lives here so it is tested without HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from api.auth import (
    Challenge,
    ChallengeStore,
    Principal,
    TokenIssuer,
    verify_challenge_signature,
)
from api.errors import AuthenticationError, PermissionDeniedError, ServiceUnavailableError
from api.settings import Settings
from ledger.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    PUBLIC_REDACTED_TYPES,
    AnchorRef,
    Bundle,
    inclusion_multiproof,
    is_plain_leaf,
    record_day,
)
from ledger.checkpoint import NoteSigner, NoteVerifier, generate_note_keys
from ledger.errors import MalformedInputError, NotFoundError
from ledger.records import SignedRecord, key_id_for
from ledger.storage.db import Database, Transaction
from ledger.storage.log import MerkleLog, StoredCheckpoint
from ledger.trade import codes
from ledger.trade.ledger import Receipt, TradeLedger, to_json
from ledger.trade.rules import CHINA_STANDARD_TIME
from ledger.trade.state import (
    BatchRow,
    DisputeRow,
    KeyRow,
    OrderRow,
    ParticipantRow,
    QualRow,
    RecordRow,
    ShipmentRow,
    load_row,
    load_where,
)
from ledger.trade.trace import Step, trace_to_json

log = logging.getLogger("lotproof.api")

PARTY_FIELDS = ("buyer", "seller", "shipper", "consignee", "carrier", "holder", "participant")
ALERT_DAYS = 30
NODE_CACHE_SIZE = 1_000_000
"""Tree nodes kept in memory (about 150 MB at most); they are immutable once written."""
ENTRY_CACHE_SIZE = 50_000
"""Log entries (leaf and record) kept in memory; immutable too."""


def _now() -> int:
    return int(time.time())


def _read_or_create(path: Any, make: Any) -> str:
    if path.exists():
        return str(path.read_text().strip())
    value = str(make())
    path.write_text(value + "\n")
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return value


@dataclass(frozen=True)
class BundleAnswer:
    """A query's answer: a readable summary and the proof bundle it rests on, as a JSON-ready
    dict (serialize with ``orjson``; ``Bundle.from_dict`` parses it back)."""

    summary: Any
    bundle: dict[str, Any]

    def parsed(self) -> Bundle:
        return Bundle.from_json(orjson.dumps(self.bundle))


class _Stored(NamedTuple):
    """A log entry as bundles use it (immutable, so cached): the leaf, its hash, the signed
    record's canonical JSON, and what bundles need to know about them."""

    leaf: bytes
    leaf_hash: bytes
    record: bytes
    type: str
    key_id: str
    plain: bool
    """The leaf is the plain leaf of the record (no escrow fields): bundles omit it."""
    fragment: orjson.Fragment


def _stored(leaf: bytes, leaf_hash: bytes, record: bytes) -> _Stored:
    envelope = orjson.loads(record)["record"]
    record_type = str(envelope["type"])
    plain = is_plain_leaf(leaf, record_type, hashlib.sha256(record).digest())
    return _Stored(
        leaf,
        leaf_hash,
        record,
        record_type,
        str(envelope["key_id"]),
        plain,
        orjson.Fragment(record),
    )


class _CachedNodes:
    """Perfect subtree hashes of the log, served from memory once read: they never change."""

    def __init__(self, log: MerkleLog, cache: dict[tuple[int, int], bytes], tx: Transaction):
        self.log, self.cache, self.tx = log, cache, tx

    def read_nodes(self, ids: Iterable[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        """The nodes ``ids`` as a mapping of this call's own: another request clearing the
        shared cache meanwhile cannot take them away."""
        cache = self.cache
        wanted = set(ids)
        out = {k: v for k in wanted if (v := cache.get(k)) is not None}
        missing = sorted(wanted - out.keys())
        for begin in range(0, len(missing), 5000):
            out.update(self.log.read_nodes(missing[begin : begin + 5000], self.tx))
        if missing:
            if len(cache) + len(missing) > NODE_CACHE_SIZE:
                cache.clear()
            cache.update((k, out[k]) for k in missing)
        return out


LICENCE_READERS = frozenset({"reviewer"})
"""Roles that read any participant's licences besides auditors and regulators."""


def licence_status(q: QualRow, day: date) -> str:
    """``valid``, ``expired``, ``not_yet_valid``, ``rejected`` or ``withdrawn`` on ``day``."""
    if q.withdrawn_by is not None:
        return "withdrawn"
    if q.verdict != "approved":
        return "rejected"
    if day < q.from_date:
        return "not_yet_valid"
    if q.to_date is not None and day >= q.to_date:
        return "expired"
    return "valid"


class LedgerService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        self.log = MerkleLog(self.db)
        self.trade = TradeLedger(self.db, settings.admin_keys, self.log)
        signer_text = settings.note_signer or _read_or_create(
            settings.data_dir / "note.key",
            lambda: generate_note_keys(_key_name(settings.origin))[0],
        )
        self.note_signer = NoteSigner.from_string(signer_text)
        self.note_verifier: NoteVerifier = self.note_signer.verifier()
        secret = settings.token_secret or bytes.fromhex(
            _read_or_create(settings.data_dir / "token.secret", lambda: secrets.token_hex(32))
        )
        self.tokens = TokenIssuer(secret, settings.token_ttl)
        self.challenges = ChallengeStore(settings.challenge_ttl)
        self.audience = settings.origin
        self.admin_by_key = {key_id_for(k): (u, k) for u, k in settings.admin_keys.items()}
        self.chain: Any = None
        if settings.chain != "none":
            from api.chainlink import ChainLink

            self.chain = ChainLink(settings, self.db, self.log)
        self._pending_accounts: list[str] = []
        self._submit_lock = threading.Lock()
        self._node_cache: dict[tuple[int, int], bytes] = {}
        self._entry_cache: dict[int, _Stored] = {}
        self._pending_lock = threading.Lock()
        from api.sequencer import Sequencer

        self.sequencer = Sequencer(
            self.log,
            self.note_signer,
            settings.origin,
            interval=settings.sequencer_interval,
            anchor=self.chain_tick if self.chain is not None else None,
            anchor_interval=settings.anchor_interval,
        )

    def start(self) -> None:
        if self.settings.run_background:
            self.sequencer.start()

    def close(self) -> None:
        self.sequencer.stop()
        if self.chain is not None:
            self.chain.close()
        self.db.close()

    # --- authentication -------------------------------------------------------------------

    def key_standing(self, key_id: str) -> tuple[Principal, bytes]:
        """The principal a key speaks for, if it is enrolled and not revoked (or an admin's)."""
        admin = self.admin_by_key.get(key_id)
        if admin is not None:
            return Principal(admin[0], key_id, frozenset({"admin", "auditor"})), admin[1]
        with self.db.read() as tx:
            key = load_row(tx, KeyRow, key_id)
            participant = load_row(tx, ParticipantRow, key.uscc) if key is not None else None
        if key is None or participant is None:
            raise AuthenticationError(f"key {key_id} is not enrolled")
        if key.revoked_at is not None:
            raise AuthenticationError(f"key {key_id} was revoked at {key.revoked_at}")
        return Principal(participant.uscc, key_id, participant.role_set), key.public_key

    def issue_challenge(self, key_id: str) -> Challenge:
        self.key_standing(key_id)
        return self.challenges.issue(key_id, _now())

    def issue_token(self, key_id: str, nonce: str, signature: bytes) -> tuple[str, int, Principal]:
        challenge = self.challenges.take(nonce, key_id, _now())
        principal, public_key = self.key_standing(key_id)
        verify_challenge_signature(self.audience, challenge, public_key, signature)
        token, expires = self.tokens.issue(principal.actor, key_id, _now())
        return token, expires, principal

    def authenticate(self, token: str) -> Principal:
        claims = self.tokens.check(token, _now())
        principal, _ = self.key_standing(claims.key_id)
        if principal.actor != claims.actor:
            raise AuthenticationError("bearer token names another participant than its key")
        return principal

    # --- writing ------------------------------------------------------------------------------

    def submit(self, records: Sequence[SignedRecord]) -> list[Receipt]:
        if len(records) >= 64:
            # Check signatures ahead, in threads, outside the write lock (PyNaCl releases the
            # GIL); submit still re-resolves every key under the lock.
            self.trade.preverify(records, workers=2)
        with self._submit_lock:
            receipts = self.trade.submit(records, now=datetime.now(UTC))
        self.sequencer.notify()
        if self.chain is not None:
            accounts = []
            for s in records:
                if s.record.type == "enrolment":
                    evm = s.record.body.get("evm_address")
                    if isinstance(evm, str):
                        accounts.append(evm)
            if accounts:
                with self._pending_lock:
                    self._pending_accounts.extend(accounts)
        return receipts

    def chain_tick(self) -> None:
        """Background chain work: enrol new EVM accounts in the escrow, publish an anchor."""
        with self._pending_lock:
            pending, self._pending_accounts = self._pending_accounts, []
        for i, account in enumerate(pending):
            try:
                self.chain.enrol_account(account)
            except Exception:
                with self._pending_lock:
                    self._pending_accounts.extend(pending[i:])
                raise
        self.chain.publish()

    # --- checkpoints and proofs -----------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint:
        cp = self.log.latest_checkpoint()
        if cp is None or cp.tree_size < self.log.size():
            cp = self.sequencer.checkpoint_now()
        if cp is None:
            raise NotFoundError("the log has no checkpoint yet")
        return cp

    def checkpoint(self, size: int) -> StoredCheckpoint:
        cp = self.log.checkpoint(size)
        if cp is None:
            raise NotFoundError(f"no checkpoint was signed for tree size {size}")
        return cp

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        latest = self.latest_checkpoint()
        if size2 > latest.tree_size:
            raise NotFoundError(f"size2 {size2} is beyond the latest checkpoint {latest.tree_size}")
        if size1 > size2:
            raise MalformedInputError(f"size1 {size1} is greater than size2 {size2}")
        with self.db.read() as tx:
            path = self.log.consistency_proof(size1, size2, tx) if size1 else []
            return {
                "size1": size1,
                "size2": size2,
                "root1": self.log.root(size1, tx).hex(),
                "root2": self.log.root(size2, tx).hex(),
                "path": [h.hex() for h in path],
            }

    def inclusion(self, leaf_index: int, tree_size: int | None) -> dict[str, Any]:
        size = tree_size if tree_size is not None else self.latest_checkpoint().tree_size
        if leaf_index >= size:
            raise NotFoundError(f"leaf {leaf_index} is not in the tree of size {size}")
        with self.db.read() as tx:
            if size > self.log.size(tx):
                raise NotFoundError(f"tree size {size} is beyond the log")
            return {
                "leaf_index": leaf_index,
                "tree_size": size,
                "leaf_hash": self.log.leaf_hash(leaf_index, tx).hex(),
                "root_hash": self.log.root(size, tx).hex(),
                "path": [h.hex() for h in self.log.inclusion_proof(leaf_index, size, tx)],
            }

    # --- permissions ------------------------------------------------------------------------

    def parties_of(self, tx: Transaction, signed: SignedRecord) -> set[str]:
        """Every participant a record concerns (its signer, the parties its body names, and
        for an acceptance, return, dispute or shipment the parties of the shipment or order it
        refers to): who besides auditors and regulators may read it."""
        record = signed.record
        parties = {record.actor}
        body = record.body
        for name in PARTY_FIELDS:
            value = body.get(name)
            if isinstance(value, str):
                parties.add(value)
        if record.type == "enrolment" and isinstance(body.get("uscc"), str):
            parties.add(body["uscc"])
        shipment_id = body.get("shipment") if record.type in ("acceptance", "return") else None
        if isinstance(shipment_id, str):
            row = load_row(tx, ShipmentRow, shipment_id)
            if row is not None:
                parties |= {row.shipper, row.consignee}
        order_id = body.get("order") if record.type in ("dispute", "shipment") else None
        dispute_id = body.get("dispute") if record.type == "dispute_resolution" else None
        if record.type == "dispute":
            dispute_id = record.id
        dispute = load_row(tx, DisputeRow, dispute_id) if isinstance(dispute_id, str) else None
        if dispute is not None:
            # Both parties read the ruling on their money; the arbiter who ruled, the dispute.
            order_id = dispute.order_id
            if dispute.resolution_id is not None:
                ruling = load_row(tx, RecordRow, dispute.resolution_id)
                if ruling is not None:
                    parties.add(ruling.actor)
        if isinstance(order_id, str):
            order = load_row(tx, OrderRow, order_id)
            if order is not None:
                parties |= {order.buyer, order.seller}
        return parties

    def may_read(self, tx: Transaction, reader: Principal, signed: SignedRecord) -> bool:
        """Whether ``reader`` may read ``signed``: auditors and regulators everything, a
        participant the records it is party to (``parties_of``), an arbiter also the open
        disputes it may rule on."""
        return (
            reader.reads_everything
            or (signed.record.type == "dispute" and "arbiter" in reader.roles)
            or reader.actor in self.parties_of(tx, signed)
        )

    @staticmethod
    def _require_reader(principal: Principal | None) -> Principal:
        if principal is None:
            raise AuthenticationError("this endpoint needs a bearer token")
        return principal

    # --- bundles --------------------------------------------------------------------------------

    def _fresh_checkpoint(self) -> StoredCheckpoint:
        """A checkpoint covering every leaf appended so far (signed now if need be).

        Called before a bundle's read transaction, so everything the query found is in it.
        """
        cp = self.sequencer.checkpoint_now()
        if cp is None:
            raise ServiceUnavailableError("the log is empty: there is nothing to prove yet")
        return cp

    def _bundle(
        self,
        tx: Transaction,
        leaf_indices: Iterable[int],
        *,
        links: Sequence[tuple[int, int]] = (),
        start: int | None = None,
        direction: str = "forward",
        query: dict[str, Any],
        parties: Iterable[str] = (),
        licence_spans: Mapping[str, tuple[str, str] | None] | None = None,
        redact_leaves: frozenset[int] = frozenset(),
        day: date | None = None,
        checkpoint: StoredCheckpoint | None = None,
    ) -> dict[str, Any]:
        """The proof bundle (docs/bundle.md) as a JSON-ready dict (records as raw JSON).

        The enrolments of ``parties`` are evidence for the verifier's signer and role checks;
        ``licence_spans`` maps each party that shipped or received to the first and last day
        (ISO, China Standard Time) it did: the licences valid on some day of that span are
        evidence for the licence check (None: all its approved licences). Without
        ``licence_spans``, the approved licences of ``parties`` valid from ``day`` or earlier
        (any, without ``day``) are.
        """
        leaf_indices_list = list(leaf_indices)
        wanted = set(leaf_indices_list)
        wanted |= {a for a, _ in links} | {b for _, b in links}
        party_set = set(parties)
        if party_set:
            wanted |= self._enrolment_leaves(tx, party_set)
        if licence_spans is None:
            span = None if day is None else ("0001-01-01", day.isoformat())
            licence_spans = dict.fromkeys(party_set, span)
        if licence_spans:
            wanted |= self._licence_leaves(tx, licence_spans)
        cp = self._fresh_checkpoint() if checkpoint is None else checkpoint
        late = [i for i in leaf_indices_list if i >= cp.tree_size]
        if late:
            raise ServiceUnavailableError(
                f"entry {late[0]} is not covered by checkpoint {cp.tree_size} yet; retry"
            )
        stored = self._entries(tx, {i for i in wanted if i < cp.tree_size})
        signers, extra = self._signer_leaves(tx, {e.key_id for e in stored.values()})
        missing = {i for i in extra - stored.keys() if i < cp.tree_size}
        if missing:
            stored.update(self._entries(tx, missing))
        indices = sorted(stored)
        proof = inclusion_multiproof(
            _CachedNodes(self.log, self._node_cache, tx), indices, cp.tree_size
        )
        entries: list[dict[str, Any]] = []
        used_keys: set[str] = set()
        for i in indices:
            e = stored[i]
            if i in redact_leaves:
                entries.append(
                    {"leaf_index": i, "leaf_hash": e.leaf_hash.hex(), "redacted": e.type}
                )
                continue
            used_keys.add(e.key_id)
            # The stored bytes are the record's canonical JSON: embed them as they are.
            if e.plain:
                entries.append({"leaf_index": i, "record": e.fragment})
            else:
                entries.append({"leaf_index": i, "leaf": e.leaf.hex(), "record": e.fragment})
        anchor = self._anchor_ref(tx, cp)
        return {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "query": query,
            "checkpoint": cp.note,
            "entries": entries,
            "inclusion_proof": [h.hex() for h in proof],
            "signers": dict(sorted(signers.items())),
            "admins": {
                key_id_for(k): {"uscc": u, "public_key": k.hex()}
                for u, k in sorted(self.settings.admin_keys.items())
                if key_id_for(k) in used_keys
            },
            "trace": (
                None
                if start is None
                else {
                    "direction": direction,
                    "start": start,
                    "links": [{"from": x, "to": y} for x, y in sorted(set(links))],
                }
            ),
            "anchor": None if anchor is None else anchor.to_dict(),
        }

    def _entries(self, tx: Transaction, indices: Iterable[int]) -> dict[int, _Stored]:
        out: dict[int, _Stored] = {}
        wanted = set(indices)
        cache = self._entry_cache
        for index in list(wanted):
            hit = cache.get(index)
            if hit is not None:
                out[index] = hit
                wanted.discard(index)
        if len(cache) + len(wanted) > ENTRY_CACHE_SIZE:
            cache.clear()
        for index, entry in self.log.entries_at(wanted, tx).items():
            if entry.record is not None:
                out[index] = cache[index] = _stored(entry.leaf, entry.leaf_hash, entry.record)
        return out

    def _record_leaves(self, tx: Transaction, record_ids: Iterable[str]) -> dict[str, int]:
        rows = tx.query_in(
            "SELECT record_id, leaf_index FROM trade_records WHERE record_id IN ({in})",
            sorted(set(record_ids)),
        )
        return {str(record_id): int(leaf_index) for record_id, leaf_index in rows}

    def _signer_leaves(self, tx: Transaction, key_ids: set[str]) -> tuple[dict[str, int], set[int]]:
        """Each participant key's enrolling entry (the enrolment or rotation that added it)."""
        participant_keys = sorted(k for k in key_ids if k not in self.admin_by_key)
        rows = tx.query_in(
            "SELECT k.key_id, r.leaf_index FROM trade_keys k"
            " JOIN trade_records r ON r.record_id = k.added_by WHERE k.key_id IN ({in})",
            participant_keys,
        )
        signers = {str(key_id): int(leaf_index) for key_id, leaf_index in rows}
        return signers, set(signers.values())

    def _licence_leaves(
        self, tx: Transaction, spans: Mapping[str, tuple[str, str] | None]
    ) -> set[int]:
        """Approved licences of each party: those valid on some day of its span (first and
        last ISO day it traded on), or all of them when the span is None."""
        out: set[int] = set()
        for holder, valid_from, valid_to, leaf_index in tx.query_in(
            "SELECT q.holder, q.valid_from, q.valid_to, r.leaf_index"
            " FROM trade_qualifications q JOIN trade_records r ON r.record_id = q.record_id"
            " WHERE q.verdict = 'approved' AND q.holder IN ({in})",
            sorted(spans),
        ):
            span = spans[holder]
            if span is None or (valid_from <= span[1] and (valid_to is None or valid_to > span[0])):
                out.add(int(leaf_index))
        return out

    def _enrolment_leaves(self, tx: Transaction, parties: set[str]) -> set[int]:
        rows = tx.query_in(
            "SELECT r.leaf_index FROM trade_participants p"
            " JOIN trade_records r ON r.record_id = p.record_id WHERE p.uscc IN ({in})",
            sorted(parties),
        )
        return {int(leaf_index) for (leaf_index,) in rows}

    def _anchor_ref(self, tx: Transaction, cp: StoredCheckpoint) -> AnchorRef | None:
        if self.chain is None:
            return None
        from api.chainlink import find_anchor_covering

        rows = self.chain.anchors(1000, tx)
        if not rows:
            return None
        anchor = find_anchor_covering(rows, cp.tree_size)
        lo, hi = sorted((anchor.tree_size, cp.tree_size))
        path = self.log.consistency_proof(lo, hi, tx) if 0 < lo < hi else []
        return AnchorRef(
            chain_id=anchor.chain_id,
            registry=bytes.fromhex(anchor.registry[2:].lower()),
            tx_hash=anchor.tx_hash,
            block_number=anchor.block_number,
            tree_size=anchor.tree_size,
            root_hash=anchor.root,
            consistency_path=tuple(path),
        )

    # --- queries ----------------------------------------------------------------------------------

    def record(self, principal: Principal | None, record_id: str) -> BundleAnswer:
        reader = self._require_reader(principal)
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            row = load_row(tx, RecordRow, record_id)
            if row is None:
                raise NotFoundError(f"no record {record_id!r} on the ledger")
            entry = self._entries(tx, [row.leaf_index]).get(row.leaf_index)
            if entry is None:
                raise NotFoundError(f"record {record_id!r} has no stored body")
            signed = SignedRecord.from_json(entry[2])
            if not self.may_read(tx, reader, signed):
                raise PermissionDeniedError(f"{reader.actor} is not a party to record {record_id}")
            bundle = self._bundle(
                tx,
                [row.leaf_index],
                query={"kind": "record", "record_id": record_id},
                checkpoint=cp,
            )
        return BundleAnswer({"record_id": record_id, "leaf_index": row.leaf_index}, bundle)

    def _batch_id(self, batch: str | None, product: str | None, lot: str | None) -> BatchRow:
        if batch:
            return self.trade.batch(batch)
        if product and lot:
            return self.trade.batch_by_lot(product, lot)
        raise MalformedInputError("name the batch: batch=<batch record id>, or product and lot")

    def trace_forward(
        self,
        principal: Principal | None,
        batch: str | None = None,
        product: str | None = None,
        lot: str | None = None,
    ) -> BundleAnswer:
        reader = self._require_reader(principal)
        row = self._batch_id(batch, product, lot)
        result = self.trade.trace_forward(row.batch_id)
        steps = list(result.steps)
        if not (reader.reads_everything or reader.actor == row.registrant):
            mine = [s for s in steps if reader.actor in (s.from_holder, s.to_holder, s.actor)]
            if not mine:
                raise PermissionDeniedError(f"{reader.actor} never held batch {row.batch_id}")
            # Keep my moves and everything upstream of them (what they follow, transitively),
            # so each kept shipment keeps its sources back to the batch registration.
            by_id = {s.record_id: s for s in steps}
            keep = {row.batch_id}
            todo = [s.record_id for s in mine]
            while todo:
                rid = todo.pop()
                if rid in keep or rid not in by_id:
                    continue
                keep.add(rid)
                todo.extend(by_id[rid].follows)
            steps = [s for s in steps if s.record_id in keep]
        query = {"kind": "trace_forward", "batch": row.batch_id}
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            bundle = self._trace_bundle(tx, steps, row, "forward", query, reader=reader, cp=cp)
        summary = (
            trace_to_json(result)
            if len(steps) == len(result.steps)
            else {
                "batch": to_json(row),
                "steps": [trace_to_json(s) for s in steps],
                "filtered_for": reader.actor,
            }
        )
        return BundleAnswer(summary, bundle)

    def _trace_bundle(
        self,
        tx: Transaction,
        steps: Sequence[Step],
        row: BatchRow,
        direction: str,
        query: dict[str, Any],
        *,
        reader: Principal | None,
        cp: StoredCheckpoint,
    ) -> dict[str, Any]:
        """A trace's bundle. Steps of the types that carry prices or amounts (acceptances
        and returns: their leaves carry the amount due) are redacted to their leaf hash for
        the public view (``reader`` None) and, for a reader who does not read everything,
        where it was no party to the move (``GET /v1/records`` refuses it those records)."""
        leaf_of = {s.record_id: s.leaf_index for s in steps}
        redact_leaves = frozenset(
            s.leaf_index
            for s in steps
            if s.type in PUBLIC_REDACTED_TYPES
            and (
                reader is None
                or (
                    not reader.reads_everything
                    and reader.actor not in (s.from_holder, s.to_holder, s.actor)
                )
            )
        )
        links = [(leaf_of[f], s.leaf_index) for s in steps for f in s.follows if f in leaf_of]
        parties = {p for s in steps for p in (s.from_holder, s.to_holder, s.actor) if p}
        product_leaf = self._record_leaves(tx, [self._product_record(tx, row.product)])
        return self._bundle(
            tx,
            [*leaf_of.values(), *product_leaf.values()],
            links=links,
            start=row.batch_leaf,
            direction=direction,
            query=query,
            parties=parties,
            licence_spans=_trading_spans(steps),
            redact_leaves=redact_leaves,
            checkpoint=cp,
        )

    @staticmethod
    def _product_record(tx: Transaction, code: str) -> str:
        found = tx.query_one("SELECT record_id FROM trade_products WHERE code = ?", (code,))
        return str(found[0]) if found else ""

    def trace_reverse(
        self,
        principal: Principal | None,
        holder: str,
        batch: str | None = None,
        product: str | None = None,
        lot: str | None = None,
    ) -> BundleAnswer:
        reader = self._require_reader(principal)
        if not reader.reads_everything and reader.actor != holder:
            raise PermissionDeniedError(
                f"{reader.actor} may trace back only its own stock, not {holder}'s"
            )
        row = self._batch_id(batch, product, lot)
        result = self.trade.trace_reverse(holder, row.batch_id)
        query = {"kind": "trace_reverse", "holder": holder, "batch": row.batch_id}
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            bundle = self._trace_bundle(
                tx, result.steps, row, "reverse", query, reader=reader, cp=cp
            )
        return BundleAnswer(trace_to_json(result), bundle)

    def trace_unit(self, principal: Principal | None, code: str, *, public: bool) -> BundleAnswer:
        result = self.trade.trace_unit(code)
        row = result.batch
        if not public:
            reader = self._require_reader(principal)
            involved = {p for s in result.steps for p in (s.from_holder, s.to_holder, s.actor)}
            if not reader.reads_everything and reader.actor not in involved:
                raise PermissionDeniedError(f"{reader.actor} never held unit {code}")
        query = {"kind": "public_unit" if public else "trace_unit", "code": code}
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            bundle = self._trace_bundle(
                tx, result.steps, row, "reverse", query, reader=None if public else reader, cp=cp
            )
        if public:
            summary = {
                "code": code,
                "genuine": True,
                "product": row.product,
                "lot": row.lot,
                "expiry_date": row.expiry_date,
                "batch_status": row.status,
                "current_holder": result.holder,
                "route": [
                    {
                        "type": s.type,
                        "from": s.from_holder,
                        "to": s.to_holder,
                        "time": s.time,
                        "leaf_index": s.leaf_index,
                    }
                    for s in result.steps
                    if s.type in ("batch", "shipment")
                ],
            }
            return BundleAnswer(summary, bundle)
        return BundleAnswer(trace_to_json(result), bundle)

    def recall_scope(
        self,
        principal: Principal | None,
        batch: str | None = None,
        product: str | None = None,
        lot: str | None = None,
    ) -> BundleAnswer:
        reader = self._require_reader(principal)
        row = self._batch_id(batch, product, lot)
        if not reader.reads_everything and reader.actor != row.registrant:
            raise PermissionDeniedError(
                f"the recall scope of {row.batch_id} is for its registrant and regulators"
            )
        result = self.trade.trace_forward(row.batch_id)
        query = {"kind": "recall_scope", "batch": row.batch_id}
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            bundle = self._trace_bundle(
                tx, result.steps, row, "forward", query, reader=reader, cp=cp
            )
        return BundleAnswer(
            {"batch": row.batch_id, "recall_scope": trace_to_json(result.recall_scope)}, bundle
        )

    def alerts(
        self, principal: Principal | None, holder: str | None, today: date | None = None
    ) -> BundleAnswer:
        """Licences expiring within 30 days, or expired, as a bundle of those licences."""
        reader = self._require_reader(principal)
        who = holder or reader.actor
        if not reader.reads_everything and who != reader.actor:
            raise PermissionDeniedError(f"{reader.actor} may read only its own alerts")
        day = today or datetime.now(CHINA_STANDARD_TIME).date()
        horizon = day + timedelta(days=ALERT_DAYS)
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            if holder is None and reader.reads_everything:
                quals = load_where(
                    tx, QualRow, "valid_to IS NOT NULL AND valid_to <= ?", (horizon.isoformat(),)
                )
            else:
                quals = load_where(tx, QualRow, "holder = ?", (who,))
            alerts: list[dict[str, Any]] = []
            for q in quals:
                if not q.usable or q.to_date is None or q.to_date > horizon:
                    continue
                alerts.append(
                    {
                        "holder": q.holder,
                        "record_id": q.record_id,
                        "kind": q.kind,
                        "number": q.number,
                        "valid_to": q.valid_to,
                        "status": "expired" if q.to_date <= day else "expiring",
                        "days_left": (q.to_date - day).days,
                    }
                )
            leaves = self._record_leaves(tx, [a["record_id"] for a in alerts])
            bundle = self._bundle(
                tx,
                leaves.values(),
                query={"kind": "alerts", "holder": who, "day": str(day)},
                checkpoint=cp,
            )
        alerts.sort(key=lambda a: (a["valid_to"], a["holder"]))
        return BundleAnswer({"holder": who, "day": day.isoformat(), "alerts": alerts}, bundle)

    def licences(
        self, principal: Principal | None, holder: str, day: date | None = None
    ) -> BundleAnswer:
        """The holder's licences with their status on ``day``, and the bundle proving them."""
        reader = self._require_reader(principal)
        may_read = reader.reads_everything or reader.actor == holder
        if not (may_read or reader.roles & LICENCE_READERS):
            raise PermissionDeniedError(
                f"{reader.actor} may read only its own licences, not those of {holder}"
            )
        day = day or datetime.now(CHINA_STANDARD_TIME).date()
        cp = self._fresh_checkpoint()
        with self.db.read() as tx:
            found = load_where(tx, QualRow, "holder = ?", (holder,))
            ids = [q.record_id for q in found] + [q.withdrawn_by for q in found if q.withdrawn_by]
            leaves = self._record_leaves(tx, ids)
            # Only what the checkpoint covers (a record may land between the two reads).
            covered = {rid for rid, i in leaves.items() if i < cp.tree_size}
            quals = [
                q if q.withdrawn_by in covered | {None} else replace(q, withdrawn_by=None)
                for q in found
                if q.record_id in covered
            ]
            bundle = self._bundle(
                tx,
                [leaves[rid] for rid in sorted(covered)],
                query={"kind": "licences", "holder": holder, "day": day.isoformat()},
                parties=[holder],
                day=day,
                checkpoint=cp,
            )
        items = [
            {
                "record_id": q.record_id,
                "kind": q.kind,
                "kind_zh": codes.LICENCE_NAMES_ZH.get(q.kind, q.kind),
                "number": q.number,
                "scope": sorted(q.scope_set),
                "authority": q.authority,
                "valid_from": q.valid_from,
                "valid_to": q.valid_to,
                "verdict": q.verdict,
                "reviewer": q.reviewer,
                "recorded_at": q.recorded_at,
                "withdrawn_by": q.withdrawn_by,
                "status": licence_status(q, day),
            }
            for q in sorted(quals, key=lambda q: (q.kind, q.valid_from, q.record_id))
        ]
        return BundleAnswer({"holder": holder, "day": day.isoformat(), "licences": items}, bundle)

    def escrow(self, principal: Principal | None, order_id: str) -> dict[str, Any]:
        reader = self._require_reader(principal)
        status = self.trade.order_status(order_id)
        order = status.order
        if not reader.reads_everything and reader.actor not in (order.buyer, order.seller):
            raise PermissionDeniedError(f"{reader.actor} is not a party to order {order_id}")
        terms = order.escrow_terms
        out: dict[str, Any] = {
            "order_id": order_id,
            "buyer": order.buyer,
            "seller": order.seller,
            "status": order.status,
            "payment_status": order.payment_status,
            "total_fen": order.total_fen,
            "amount_due_fen": order.amount_due_fen,
            "escrow_terms": terms,
            "chain": None,
        }
        if terms is not None and self.chain is not None:
            out["chain"] = self.chain.escrow_status(
                terms["buyer_address"],
                bytes.fromhex(terms["order_id"].removeprefix("0x")),
            )
        return out

    def log_info(self) -> dict[str, Any]:
        cp = self.log.latest_checkpoint()
        info: dict[str, Any] = {
            "origin": self.settings.origin,
            "checkpoint_key": self.note_verifier.to_string(),
            "tree_size": self.log.size(),
            "checkpoint_size": cp.tree_size if cp else 0,
            "admins": {u: k.hex() for u, k in sorted(self.settings.admin_keys.items())},
            "chain": None,
        }
        if self.chain is not None:
            info["chain"] = {
                "chain_id": self.chain.chain_id,
                "registry": self.chain.registry_address,
                "escrow": self.chain.escrow.address,
                "embedded": self.settings.chain == "embedded",
            }
        return info


def _trading_spans(steps: Sequence[Step]) -> dict[str, tuple[str, str] | None]:
    """The first and last day (China Standard Time, ISO) each party shipped or received a
    shipment of the steps on: the days the verifier checks its licences for (None: a day
    could not be read, so every licence of the party is evidence)."""
    days: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for s in steps:
        if s.type != "shipment":
            continue
        ends = [p for p in (s.from_holder, s.to_holder) if p]
        try:
            day = record_day(s.time).isoformat()
        except MalformedInputError:
            unknown.update(ends)
            continue
        for party in ends:
            days[party].add(day)
    spans: dict[str, tuple[str, str] | None] = {p: (min(d), max(d)) for p, d in days.items()}
    spans.update(dict.fromkeys(unknown))
    return spans


def _key_name(origin: str) -> str:
    name = "".join(c for c in origin if c.isalnum() or c in "._-/")
    return name or "lotproof"


def parse_records(payload: Any, max_batch: int) -> list[SignedRecord]:
    """One signed record, a list of them, or ``{"records": [...]}``."""
    items: Any
    if isinstance(payload, dict) and "records" in payload:
        if set(payload) != {"records"}:
            raise MalformedInputError("a batch must be {'records': [...]} and nothing else")
        items = payload["records"]
    elif isinstance(payload, list):
        items = payload
    else:
        items = [payload]
    if not isinstance(items, list) or not items:
        raise MalformedInputError("records must be a non-empty list of signed records")
    if len(items) > max_batch:
        from api.errors import PayloadTooLargeError

        raise PayloadTooLargeError(f"a batch holds at most {max_batch} records, got {len(items)}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(SignedRecord.from_dict(item))
        except MalformedInputError as e:
            raise MalformedInputError(f"record {i}: {e}") from None
    return out


__all__ = ["BundleAnswer", "LedgerService", "parse_records"]
