"""Canonical JSON: sorted keys, compact separators, UTF-8, integers only.

The bytes are what signatures and digests cover, so two parties that agree on a value agree
on its bytes. Floats are refused everywhere (money is integer fen, quantities integers), as
are integers outside the signed 64-bit range, non-string keys and non-JSON types.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ledger.errors import MalformedInputError

JsonValue = Any
"""A value made of dict (str keys), list, str, int, bool and None."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 32


def is_json_value(value: JsonValue) -> bool:
    """Fast, iterative form of ``check_json_value``: True when canonical-encodable."""
    stack: list[tuple[JsonValue, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        kind = type(item)
        if kind is dict:
            if depth >= MAX_DEPTH and item:
                return False
            for key, child in item.items():
                if type(key) is not str:
                    return False
                child_kind = type(child)
                if child_kind is str or child_kind is bool or child is None:
                    continue
                if child_kind is int:
                    if not INT_MIN <= child <= INT_MAX:
                        return False
                    continue
                push((child, depth + 1))
        elif kind is list:
            if depth >= MAX_DEPTH and item:
                return False
            for child in item:
                push((child, depth + 1))
        elif kind is str or kind is bool or item is None:
            continue
        elif kind is int:
            if not INT_MIN <= item <= INT_MAX:
                return False
        else:
            return False
    return True


def check_json_value(value: JsonValue, where: str = "$") -> None:
    """Raise ``MalformedInputError`` unless ``value`` is canonical-encodable.

    The fast iterative check runs first; only a value that fails it is walked again, slowly,
    to name where it fails.
    """
    if not is_json_value(value):
        # Raises, naming the failing part; returns only for subclasses of the JSON types,
        # which the fast check does not take but the encoder does.
        _explain(value, where, 0)


def _explain(value: JsonValue, where: str, depth: int) -> None:
    """Raise ``MalformedInputError`` naming the first part of ``value`` that fails."""
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
            _explain(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _explain(item, f"{where}[{i}]", depth + 1)
        return
    raise MalformedInputError(f"{where}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: JsonValue) -> bytes:
    """The canonical encoding of ``value``; raises ``MalformedInputError`` if it has none."""
    check_json_value(value)
    return encode_checked(value)


def encode_checked(value: JsonValue) -> bytes:
    """Canonical bytes of a value that has already passed ``check_json_value``."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def parse_json(data: bytes | str, what: str = "document") -> JsonValue:
    """Parse JSON, refusing floats, duplicate keys and anything canonical encoding refuses.

    A duplicate key is refused because parsers disagree on which value wins (orjson and
    Python's json keep the last, others the first): a document that reads one way here and
    another way elsewhere must not verify anywhere.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise MalformedInputError(f"{what} is not valid JSON: {e}") from e
    check_json_value(value)
    if _has_objects(value):
        try:
            json.loads(data, object_pairs_hook=_refuse_duplicates)
        except _DuplicateKeyError as e:
            raise MalformedInputError(f"{what} has the key {e.key!r} twice in one object") from None
        except ValueError as e:  # what orjson took, Python's json should too; never a traceback
            raise MalformedInputError(f"{what} is not valid JSON: {e}") from None
    return value


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads`` (its C scanner: ~10 ms per MB here)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _has_objects(value: JsonValue) -> bool:
    return type(value) is dict or (type(value) is list and bool(value))
