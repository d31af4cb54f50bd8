"""Checkpoints, inclusion and consistency proofs, and the log's public parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.schemas import ERROR_RESPONSES, CheckpointOut, ConsistencyProofOut, InclusionProofOut
from ledger.storage.log import StoredCheckpoint

router = APIRouter(prefix="/v1", tags=["log"], responses=ERROR_RESPONSES)

SIZE = Annotated[int, Query(ge=0, le=2**63 - 1)]


def _out(cp: StoredCheckpoint) -> CheckpointOut:
    return CheckpointOut(
        tree_size=cp.tree_size, root_hash=cp.root.hex(), note=cp.note, created_at=cp.created_at
    )


@router.get("/log")
def log_info(service: ServiceDep) -> dict[str, Any]:
    """Origin, checkpoint verifier key, sizes, admin keys and the chain's contracts."""
    return service.log_info()


@router.get("/checkpoints/latest", response_model=CheckpointOut)
def latest(service: ServiceDep) -> CheckpointOut:
    """The latest signed checkpoint (C2SP signed note)."""
    return _out(service.latest_checkpoint())


@router.post("/checkpoints", response_model=CheckpointOut)
def sign_now(service: ServiceDep) -> CheckpointOut:
    """Checkpoint the log now if it grew (idempotent), and return the latest checkpoint."""
    return _out(service.latest_checkpoint())


@router.get("/checkpoints/{tree_size}", response_model=CheckpointOut)
def historic(tree_size: int, service: ServiceDep) -> CheckpointOut:
    """The checkpoint signed for exactly this tree size."""
    from ledger.errors import MalformedInputError

    if not 0 <= tree_size < 2**63:
        raise MalformedInputError(f"tree size must be in [0, 2^63), got {tree_size}")
    return _out(service.checkpoint(tree_size))


@router.get("/proofs/consistency", response_model=ConsistencyProofOut)
def consistency(
    service: ServiceDep,
    size1: Annotated[int, Query(alias="from", ge=0, le=2**63 - 1)],
    size2: Annotated[int, Query(alias="to", ge=0, le=2**63 - 1)],
) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes (the CLI's JSON proof file)."""
    return service.consistency(size1, size2)


@router.get("/proofs/inclusion", response_model=InclusionProofOut)
def inclusion(
    service: ServiceDep,
    leaf_index: Annotated[int, Query(ge=0, le=2**63 - 1)],
    tree_size: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    """RFC 9162 inclusion proof of one leaf (default: in the latest checkpoint's tree)."""
    return service.inclusion(leaf_index, tree_size)
