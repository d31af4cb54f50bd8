"""Escrow status per order, anchors, and the narrow JSON-RPC relay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import PrincipalDep, ServiceDep
from api.errors import ServiceUnavailableError
from api.schemas import ERROR_RESPONSES, RpcIn

router = APIRouter(prefix="/v1", tags=["chain"], responses=ERROR_RESPONSES)


@router.get("/escrow/{order_id}")
def escrow(
    order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")],
    service: ServiceDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The order's payment status on the ledger and its escrow on chain."""
    return service.escrow(principal, order_id)


def _chain(service: Any) -> Any:
    if service.chain is None:
        raise ServiceUnavailableError("this ledger runs without a chain")
    return service.chain


@router.get("/anchors")
def anchors(
    service: ServiceDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Checkpoints anchored on chain, newest first, with the chain's own latest anchor."""
    chain = _chain(service)
    latest = chain.chain_latest()
    return {
        "chain_id": chain.chain_id,
        "registry": chain.registry_address,
        "anchors": [a.to_json() for a in chain.anchors(limit)],
        "chain_latest": (
            None if latest is None else {"tree_size": latest[0], "root_hash": latest[1].hex()}
        ),
    }


@router.post("/anchors", status_code=200)
def anchor_now(service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Checkpoint and anchor now (any authenticated caller; idempotent)."""
    chain = _chain(service)
    service.latest_checkpoint()
    service.chain_tick()
    latest = chain.latest_anchor()
    return {"anchor": None if latest is None else latest.to_json()}


@router.post("/chain/rpc")
def rpc(body: RpcIn, service: ServiceDep, principal: PrincipalDep) -> dict[str, Any]:
    """Relay one allow-listed JSON-RPC call (participants send locally signed escrow
    transactions this way). Authenticated."""
    answer = _chain(service).relay(body.method, list(body.params))
    return {"jsonrpc": "2.0", "id": body.id, **answer}
