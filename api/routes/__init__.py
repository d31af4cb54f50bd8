"""One router per resource."""

from __future__ import annotations

import orjson
from fastapi import Response

from api.service import BundleAnswer


def json_response(value: object, status_code: int = 200) -> Response:
    """Fast JSON (orjson) for large answers such as proof bundles."""
    return Response(orjson.dumps(value), status_code=status_code, media_type="application/json")


def bundle_response(answer: BundleAnswer, only_bundle: bool) -> Response:
    bundle = answer.bundle
    return json_response(bundle if only_bundle else {"summary": answer.summary, "bundle": bundle})
