"""Trace forward, trace reverse, unit trace, recall scope, alerts: each a proof bundle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import PrincipalDep, ServiceDep
from api.routes import bundle_response
from api.schemas import ERROR_RESPONSES, BundleOut

router = APIRouter(prefix="/v1", tags=["trace"], responses=ERROR_RESPONSES)

RID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Batch = Annotated[str | None, Query(pattern=RID, description="batch record id")]
Product = Annotated[str | None, Query(pattern=r"^[0-9]{7}$", description="7-digit product code")]
Lot = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z._/-]{1,40}$")]
Uscc = Annotated[str, Query(pattern=r"^[0-9A-Z]{18}$", description="holder's USCC")]
OnlyBundle = Annotated[bool, Query(alias="bundle", description="answer with the bundle only")]
UNIT = Annotated[str, Path(pattern=r"^[0-9]{20}$", description="20-digit traceability code")]


@router.get("/trace/forward", response_model=BundleOut)
def forward(  # noqa: PLR0917 - FastAPI query parameters
    service: ServiceDep,
    principal: PrincipalDep,
    batch: Batch = None,
    product: Product = None,
    lot: Lot = None,
    only_bundle: OnlyBundle = False,
) -> Response:
    """Every holder the batch reached (正向追踪). The registrant, auditors and regulators see
    all of it; another holder sees the moves it took part in."""
    return bundle_response(service.trace_forward(principal, batch, product, lot), only_bundle)


@router.get("/trace/reverse", response_model=BundleOut)
def reverse(  # noqa: PLR0917 - FastAPI query parameters
    service: ServiceDep,
    principal: PrincipalDep,
    holder: Uscc,
    batch: Batch = None,
    product: Product = None,
    lot: Lot = None,
    only_bundle: OnlyBundle = False,
) -> Response:
    """The chain from the batch registration to a holder's stock (反向溯源), with each
    party's licences as they stood on the day."""
    return bundle_response(
        service.trace_reverse(principal, holder, batch, product, lot), only_bundle
    )


@router.get("/trace/units/{code}", response_model=BundleOut)
def unit(
    code: UNIT, service: ServiceDep, principal: PrincipalDep, only_bundle: OnlyBundle = False
) -> Response:
    """The path of one traceability code, for those who held it and auditors."""
    return bundle_response(service.trace_unit(principal, code, public=False), only_bundle)


@router.get("/recall-scope", response_model=BundleOut)
def recall_scope(  # noqa: PLR0917 - FastAPI query parameters
    service: ServiceDep,
    principal: PrincipalDep,
    batch: Batch = None,
    product: Product = None,
    lot: Lot = None,
    only_bundle: OnlyBundle = False,
) -> Response:
    """Who holds the batch, what is in transit, and who must be notified."""
    return bundle_response(service.recall_scope(principal, batch, product, lot), only_bundle)


@router.get("/alerts", response_model=BundleOut)
def alerts(
    service: ServiceDep,
    principal: PrincipalDep,
    holder: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{18}$")] = None,
    only_bundle: OnlyBundle = False,
) -> Response:
    """Licences expiring within 30 days or expired (the caller's own, or any for auditors)."""
    return bundle_response(service.alerts(principal, holder), only_bundle)


public = APIRouter(prefix="/v1/public", tags=["public"], responses=ERROR_RESPONSES)


@public.get("/units/{code}", response_model=BundleOut)
def public_unit(code: UNIT, service: ServiceDep, only_bundle: OnlyBundle = False) -> Response:
    """Is this unit code genuine, and where has it been? No login. Orders, invoices and
    acceptances appear only as leaf hashes (no prices, amounts or terms), so the answer
    stays verifiable."""
    return bundle_response(service.trace_unit(None, code, public=True), only_bundle)
