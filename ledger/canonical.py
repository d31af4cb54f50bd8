"""Canonical JSON: sorted keys, compact separators, UTF-8, integers only.

The bytes are what signatures and digests cover, so two parties that agree on a value agree
on its bytes. Floats are refused everywhere (money is integer fen, quantities integers), as
are integers outside the signed 64-bit range, non-string keys and non-JSON types.
"""

from __future__ import annotations

from typing import Any

import orjson

from ledger.errors import MalformedInputError

JsonValue = Any
"""A value made of dict (str keys), list, str, int, bool and None."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 32


def check_json_value(value: JsonValue, where: str = "$", depth: int = 0) -> None:
    """Raise ``MalformedInputError`` unless ``value`` is canonical-encodable."""
    if depth > MAX_DEPTH:
        raise MalformedInputError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise MalformedInputError(f"{where}: integer {value} is outside the 64-bit range")
        return
    if isinstance(value, float):
        raise MalformedInputError(f"{where}: floats are not allowed (got {value!r})")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedInputError(f"{where}: object keys must be strings")
            check_json_value(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]", depth + 1)
        return
    raise MalformedInputError(f"{where}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: JsonValue) -> bytes:
    """The canonical encoding of ``value``; raises ``MalformedInputError`` if it has none."""
    check_json_value(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def parse_json(data: bytes | str, what: str = "document") -> JsonValue:
    """Parse JSON, refusing floats and anything canonical encoding refuses."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise MalformedInputError(f"{what} is not valid JSON: {e}") from e
    check_json_value(value)
    return value
