"""Request and response models of the HTTP API, apart from the core's types.

Signed records themselves are parsed by the core (``ledger.records.SignedRecord``) from the
raw JSON bytes, so floats and unknown fields are refused exactly as the core refuses them;
the models below document their shape in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

KEY_ID = r"^[0-9a-f]{16}$"
HEX_SIG = r"^[0-9a-f]{128}$"

EXAMPLE_RECORD: dict[str, Any] = {
    "record": {
        "v": 1,
        "type": "acceptance",
        "id": "acc-2026-0001",
        "actor": "12440100MB1234567X",
        "key_id": "3f2a9c0d4b5e6f70",
        "time": "2026-03-02T08:00:00Z",
        "body": {
            "shipment": "shp-2026-0001",
            "lines": [{"line": 0, "accepted": 36, "rejected": 4, "reasons": ["damaged"]}],
        },
        "supersedes": None,
    },
    "signature": "ab" * 64,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RecordEnvelope(Strict):
    v: int = Field(1, description="envelope version")
    type: str = Field(description="record type, e.g. shipment")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    actor: str = Field(description="the signer's USCC (统一社会信用代码)")
    key_id: str = Field(pattern=KEY_ID)
    time: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
    body: dict[str, Any]
    supersedes: str | None = None


class SignedRecordIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_RECORD]})
    record: RecordEnvelope
    signature: str = Field(pattern=HEX_SIG)


class RecordBatchIn(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"records": [EXAMPLE_RECORD]}]}
    )
    records: list[SignedRecordIn] = Field(min_length=1)


class ReceiptOut(BaseModel):
    leaf_index: int
    leaf_hash: str
    record_id: str


class SubmitOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "receipts": [
                        {"leaf_index": 41, "leaf_hash": "9f" * 32, "record_id": "acc-2026-0001"}
                    ],
                    "tree_size": 42,
                }
            ]
        }
    )
    receipts: list[ReceiptOut]
    tree_size: int


class ChallengeIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"key_id": "3f2a9c0d4b5e6f70"}]},
    )
    key_id: str = Field(pattern=KEY_ID)


class ChallengeOut(BaseModel):
    nonce: str
    key_id: str
    audience: str
    expires_at: int
    signing_domain: str = "lotproof/auth/v1\\n"


class TokenIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"key_id": "3f2a9c0d4b5e6f70", "nonce": "0f" * 16, "signature": "ab" * 64}]
        },
    )
    key_id: str = Field(pattern=KEY_ID)
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    signature: str = Field(pattern=HEX_SIG)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: int
    actor: str
    roles: list[str]


class WhoAmI(BaseModel):
    actor: str
    key_id: str
    roles: list[str]


class CheckpointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tree_size": 42,
                    "root_hash": "5e" * 32,
                    "note": (
                        "lotproof.local/log\n42\nXl5e...=\n\n\u2014 lotproof.local/log AbC...\n"
                    ),
                    "created_at": "2026-03-02T08:00:01.000000Z",
                }
            ]
        }
    )
    tree_size: int
    root_hash: str
    note: str
    created_at: str


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    path: list[str]


class ConsistencyProofOut(BaseModel):
    size1: int
    size2: int
    root1: str
    root2: str
    path: list[str]


class BundleOut(BaseModel):
    """A query's readable summary and the proof bundle (docs/bundle.md) it rests on."""

    summary: Any
    bundle: dict[str, Any]


class RpcIn(Strict):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}]
        },
    )
    method: str
    params: list[Any] = Field(default_factory=list)
    id: int | str | None = None
    jsonrpc: str = "2.0"


class ErrorBody(BaseModel):
    type: str
    message: str
    rule_id: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "malformed input"},
    401: {"model": ErrorOut, "description": "missing or invalid bearer token"},
    403: {"model": ErrorOut, "description": "not allowed to read this"},
    404: {"model": ErrorOut, "description": "not found"},
    422: {"model": ErrorOut, "description": "refused by a rule or failed verification"},
}
