"""A small Python client of the lotproof API: one method per endpoint.

    client = LotproofClient("http://127.0.0.1:8080", key=signing_key)
    client.submit([signed, ...])                 # receipts
    answer = client.trace_forward(batch="b-1")   # {"summary": ..., "bundle": ...}

With a ``key`` (a ``ledger.records.SigningKey`` whose key is enrolled), the client logs in by
signing the server's challenge on first need and again when its token expires. Errors come
back as ``ApiError`` carrying the HTTP status, the error type, the message and, for a rule
refusal, the rule id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from api.auth import challenge_message
from ledger.errors import LedgerError
from ledger.records import SignedRecord, SigningKey


class ApiError(LedgerError):
    """An error answer of the API (or no answer at all: status 0)."""

    def __init__(self, status: int, kind: str, message: str, rule_id: str | None = None) -> None:
        super().__init__(
            f"{message}" if not rule_id or rule_id in message else f"{rule_id}: {message}"
        )
        self.status = status
        self.kind = kind
        self.message = message
        self.rule_id = rule_id

    @property
    def bad_input(self) -> bool:
        """The request itself was wrong (exit 2 in the CLI)."""
        return self.status in (400, 404, 413) or (
            self.status == 422 and self.kind == "malformed_input"
        )


class LotproofClient:
    def __init__(
        self,
        base_url: str,
        key: SigningKey | None = None,
        *,
        timeout: float = 60.0,
        verify: bool | str = True,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify)
        self._token: str | None = None
        self._token_expires = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LotproofClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = False,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers: dict[str, str] = {}
        if content is not None:
            headers["content-type"] = "application/json"
        for attempt in (0, 1):
            if auth:
                headers["authorization"] = f"Bearer {self.token()}"
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    content=content,
                    params={k: v for k, v in (params or {}).items() if v is not None},
                    headers=headers,
                )
            except httpx.HTTPError as e:
                raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {e}") from None
            if response.status_code == 401 and auth and attempt == 0 and self.key is not None:
                self._token = None  # expired or revoked token: log in again once
                continue
            break
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise ApiError(
                    response.status_code,
                    err.get("type", "error"),
                    err["message"],
                    err.get("rule_id"),
                )
            except (ValueError, KeyError, TypeError):
                raise ApiError(
                    response.status_code,
                    "http_error",
                    response.text[:200] or response.reason_phrase,
                ) from None
        return orjson.loads(response.content)

    def token(self) -> str:
        """A bearer token, logging in if there is none or it is about to expire."""
        if self._token is None or time.time() > self._token_expires - 30:
            self.login()
        assert self._token is not None
        return self._token

    def login(self) -> dict[str, Any]:
        if self.key is None:
            raise ApiError(401, "unauthenticated", "this call needs a key to log in with")
        c = self._request("POST", "/v1/auth/challenge", json={"key_id": self.key.key_id})
        message = challenge_message(c["audience"], self.key.key_id, c["nonce"], c["expires_at"])
        signature = self.key.sign(message).hex()
        t = self._request(
            "POST",
            "/v1/auth/token",
            json={"key_id": self.key.key_id, "nonce": c["nonce"], "signature": signature},
        )
        self._token = str(t["token"])
        self._token_expires = int(t["expires_at"])
        return dict(t)

    # --- endpoints ----------------------------------------------------------------------------

    def healthz(self) -> dict[str, Any]:
        return dict(self._request("GET", "/healthz"))

    def log_info(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/log"))

    def whoami(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/auth/whoami", auth=True))

    def submit(self, records: SignedRecord | Sequence[SignedRecord]) -> dict[str, Any]:
        """Submit one record or a batch (all-or-nothing); returns receipts and tree size."""
        if isinstance(records, SignedRecord):
            payload: bytes = records.canonical_bytes()
        else:
            payload = orjson.dumps({"records": [r.to_dict() for r in records]})
        return dict(self._request("POST", "/v1/records", content=payload))

    def record(self, record_id: str, *, only_bundle: bool = False) -> dict[str, Any]:
        return dict(
            self._request(
                "GET", f"/v1/records/{record_id}", auth=True, params={"bundle": only_bundle or None}
            )
        )

    def latest_checkpoint(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/checkpoints/latest"))

    def checkpoint(self, tree_size: int) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/checkpoints/{tree_size}"))

    def checkpoint_now(self) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/checkpoints"))

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        return dict(
            self._request("GET", "/v1/proofs/consistency", params={"from": size1, "to": size2})
        )

    def inclusion(self, leaf_index: int, tree_size: int | None = None) -> dict[str, Any]:
        return dict(
            self._request(
                "GET",
                "/v1/proofs/inclusion",
                params={"leaf_index": leaf_index, "tree_size": tree_size},
            )
        )

    def trace_forward(
        self, batch: str | None = None, *, product: str | None = None, lot: str | None = None
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "GET",
                "/v1/trace/forward",
                auth=True,
                params={"batch": batch, "product": product, "lot": lot},
            )
        )

    def trace_reverse(
        self,
        holder: str,
        batch: str | None = None,
        *,
        product: str | None = None,
        lot: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "GET",
                "/v1/trace/reverse",
                auth=True,
                params={"holder": holder, "batch": batch, "product": product, "lot": lot},
            )
        )

    def trace_unit(self, code: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/trace/units/{code}", auth=True))

    def public_unit(self, code: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/public/units/{code}"))

    def recall_scope(
        self, batch: str | None = None, *, product: str | None = None, lot: str | None = None
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "GET",
                "/v1/recall-scope",
                auth=True,
                params={"batch": batch, "product": product, "lot": lot},
            )
        )

    def alerts(self, holder: str | None = None) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/alerts", auth=True, params={"holder": holder}))

    def licences(self, holder: str, on: str | None = None) -> dict[str, Any]:
        """A participant's licences and their status on ``on`` (default today), with the
        bundle proving them."""
        params = {"holder": holder, "on": on}
        return dict(self._request("GET", "/v1/licences", auth=True, params=params))

    def escrow(self, order_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/escrow/{order_id}", auth=True))

    def anchors(self, limit: int = 100) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/anchors", params={"limit": limit}))

    def anchor_now(self) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/anchors", auth=True))

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Relay one allow-listed JSON-RPC call to the ledger's chain."""
        answer = self._request(
            "POST",
            "/v1/chain/rpc",
            auth=True,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        )
        if "error" in answer:
            error = answer["error"]
            raise ApiError(400, "rpc_error", f"{method} failed: {error.get('message', error)}")
        return answer["result"]
