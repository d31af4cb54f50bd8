"""Licences (首营 qualifications) of one participant, as a proof bundle.

``GET /v1/licences?holder=USCC`` lists every qualification record a reviewer signed for the
holder (approved or rejected, withdrawn or not), each with its status on the day asked
(``on``, default today in China Standard Time). The bundle carries those records, the
corrections that withdrew any of them and the holder's enrolment, so ``lotproof audit
verify`` checks the answer offline. Readable by the holder itself, by compliance reviewers
(who record licences) and by auditors and regulators.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, ServiceDep
from api.routes import bundle_response
from api.routes.trace import OnlyBundle, Uscc
from api.schemas import ERROR_RESPONSES, BundleOut

router = APIRouter(prefix="/v1", tags=["trace"], responses=ERROR_RESPONSES)


@router.get("/licences", response_model=BundleOut)
def licences(
    service: ServiceDep,
    principal: PrincipalDep,
    holder: Uscc,
    on: Annotated[date | None, Query(description="status on this day (default today)")] = None,
    only_bundle: OnlyBundle = False,
) -> Response:
    """A participant's licences (首营资料) and their status on a day, as a proof bundle."""
    return bundle_response(service.licences(principal, holder, on), only_bundle)
