"""Records: submit signed records (one or a batch), read one with its proofs."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from api.deps import PrincipalDep, ServiceDep
from api.errors import PayloadTooLargeError
from api.routes import bundle_response, json_response
from api.schemas import ERROR_RESPONSES, BundleOut, RecordBatchIn, SignedRecordIn, SubmitOut
from api.service import parse_records
from ledger.canonical import parse_json

router = APIRouter(prefix="/v1/records", tags=["records"], responses=ERROR_RESPONSES)

RECORD_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]


def _first_example(model: type[BaseModel]) -> Any:
    """The first of the examples a schema model declares in its ``json_schema_extra``."""
    extra = cast(dict[str, Any], model.model_config.get("json_schema_extra"))
    return extra["examples"][0]


_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        SignedRecordIn.model_json_schema(
                            ref_template="#/components/schemas/{model}"
                        ),
                        RecordBatchIn.model_json_schema(
                            ref_template="#/components/schemas/{model}"
                        ),
                    ]
                },
                "examples": {
                    "one": {"value": _first_example(SignedRecordIn)},
                    "batch": {"value": _first_example(RecordBatchIn)},
                },
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=SubmitOut,
    openapi_extra=_SUBMIT_BODY,
    summary="Submit one signed record, or a batch ({records: [...]}) all-or-nothing",
)
async def submit(request: Request, service: ServiceDep) -> Response:
    """The signature authenticates the record: no token is needed. Returns a receipt (leaf
    index and leaf hash) per record; a checkpoint covering them follows within a second."""
    limit = service.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds {limit}")
    # Read no more than the limit, whatever the request declared (a chunked body has no
    # Content-Length): a larger one is refused before it is held in memory.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    records = parse_records(parse_json(raw, "request body"), service.settings.max_batch)
    from starlette.concurrency import run_in_threadpool

    receipts = await run_in_threadpool(service.submit, records)
    return json_response(
        {
            "receipts": [r.to_json() for r in receipts],
            "tree_size": receipts[-1].leaf_index + 1,
        },
        status_code=201,
    )


@router.get("/{record_id}", response_model=BundleOut)
def read(
    record_id: RECORD_ID,
    service: ServiceDep,
    principal: PrincipalDep,
    only_bundle: Annotated[bool, Query(alias="bundle")] = False,
) -> Response:
    """The record with its inclusion proof, in a proof bundle (docs/bundle.md). Readable by
    the parties to the record, auditors and regulators."""
    return bundle_response(service.record(principal, record_id), only_bundle)
