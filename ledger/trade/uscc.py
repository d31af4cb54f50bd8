"""Unified social credit codes (统一社会信用代码), GB 32100-2015.

Eighteen characters from ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z); the last
is a check character: with weights 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10,
30, 28 over the first seventeen, check = (31 - sum mod 31) mod 31.
"""

from __future__ import annotations

import functools

from ledger.errors import MalformedInputError

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(CHARSET)}


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first seventeen characters."""
    if len(first17) != 17:
        raise MalformedInputError(f"USCC body has {len(first17)} characters, want 17")
    total = 0
    for position, (char, weight) in enumerate(zip(first17, WEIGHTS, strict=True)):
        value = _VALUE.get(char)
        if value is None:
            raise MalformedInputError(
                f"USCC character {position + 1} is {char!r}, not one of {CHARSET}"
            )
        total += value * weight
    return CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: object) -> bool:
    try:
        verify_uscc(code)
    except MalformedInputError:
        return False
    return True


def verify_uscc(code: object, what: str = "USCC") -> None:
    """Raise ``MalformedInputError`` unless ``code`` is an 18-character USCC with a valid check."""
    if isinstance(code, str) and _known_good(code):
        return
    if not isinstance(code, str) or len(code) != 18:
        raise MalformedInputError(f"{what} must be 18 characters, got {code!r}")
    want = check_character(code[:17])
    if code[17] != want:
        raise MalformedInputError(
            f"{what} {code} has check character {code[17]!r}, want {want!r} (GB 32100-2015)"
        )


def make_uscc(first17: str) -> str:
    """Complete seventeen characters with their check character (test data, the demo)."""
    return first17 + check_character(first17)


@functools.lru_cache(maxsize=65536)
def _known_good(code: str) -> bool:
    """Memoized check for codes seen before (participants recur in every record)."""
    return (
        len(code) == 18
        and all(c in _VALUE for c in code)
        and (check_character(code[:17]) == code[17])
    )
