"""Licences (首营 qualifications) of one participant, as a proof bundle.

``GET /v1/licences?holder=USCC`` lists every qualification record a reviewer signed for the
holder (approved or rejected, withdrawn or not), each with its status on the day asked
(``on``, default today in China Standard Time). The bundle carries those records, the
corrections that withdrew any of them and the holder's enrolment, so ``lotproof audit
verify`` checks the answer offline. Readable by the holder itself, by compliance reviewers
(who record licences) and by auditors and regulators.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, ServiceDep
from api.errors import PermissionDeniedError
from api.routes import bundle_response
from api.schemas import ERROR_RESPONSES, BundleOut
from api.service import BundleAnswer, LedgerService
from ledger.trade import codes
from ledger.trade.rules import CHINA_STANDARD_TIME
from ledger.trade.state import QualRow, load_where

router = APIRouter(prefix="/v1", tags=["trace"], responses=ERROR_RESPONSES)

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


def licences_of(
    service: LedgerService, principal: Any, holder: str, day: date | None = None
) -> BundleAnswer:
    """The holder's licences with their status on ``day``, and the bundle proving them."""
    reader = service._require_reader(principal)
    if not (reader.reads_everything or reader.actor == holder or reader.roles & LICENCE_READERS):
        raise PermissionDeniedError(
            f"{reader.actor} may read only its own licences, not those of {holder}"
        )
    day = day or datetime.now(CHINA_STANDARD_TIME).date()
    cp = service._fresh_checkpoint()
    with service.db.read() as tx:
        found = load_where(tx, QualRow, "holder = ?", (holder,))
        ids = [q.record_id for q in found] + [q.withdrawn_by for q in found if q.withdrawn_by]
        leaves = service._record_leaves(tx, ids)
        # Only what the checkpoint covers (a record may land between the two reads).
        covered = {rid for rid, i in leaves.items() if i < cp.tree_size}
        quals = [
            q if q.withdrawn_by in covered | {None} else replace(q, withdrawn_by=None)
            for q in found
            if q.record_id in covered
        ]
        bundle = service._bundle(
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


@router.get("/licences", response_model=BundleOut)
def licences(
    service: ServiceDep,
    principal: PrincipalDep,
    holder: Annotated[str, Query(pattern=r"^[0-9A-Z]{18}$", description="holder's USCC")],
    on: Annotated[date | None, Query(description="status on this day (default today)")] = None,
    only_bundle: Annotated[bool, Query(alias="bundle")] = False,
) -> Response:
    """A participant's licences (首营资料) and their status on a day, as a proof bundle."""
    return bundle_response(licences_of(service, principal, holder, on), only_bundle)
