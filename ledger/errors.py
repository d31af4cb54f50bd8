"""The ledger's one error hierarchy.

Every failure the core can report is a ``LedgerError``. Its children say what kind of
failure it is, so callers map them to outcomes in one place (the CLI to exit codes, the API
to HTTP statuses):

- ``MalformedInputError``: the input is not of the expected form (bad hex, a hash that is
  not 32 bytes, a missing field, a non-integer amount). CLI exit 2, HTTP 400/422.
- ``VerificationError``: well-formed input that does not verify (root mismatch, bad
  signature, wrong proof length, index out of range). CLI exit 1, HTTP 422.
- ``RuleViolation``: a business rule refused a record; carries the rule's stable id.
- ``NotFoundError``, ``ConflictError``, ``StorageError``.

Messages say what was expected and what was found.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by the ledger core."""


class MalformedInputError(LedgerError, ValueError):
    """Input that is not of the expected form; nothing was checked or written."""


class HashLengthError(MalformedInputError):
    """A hash that is not 32 bytes."""

    def __init__(self, what: str, got: int, want: int = 32) -> None:
        super().__init__(f"{what} has {got} bytes, want {want}")
        self.what = what
        self.got = got
        self.want = want


class VerificationError(LedgerError):
    """Well-formed input that failed a cryptographic or structural check."""


class ProofSizeError(VerificationError):
    """A proof with the wrong number of hashes for its (index, size) or (size1, size2)."""

    def __init__(self, got: int, want: int) -> None:
        super().__init__(f"wrong proof size {got}, want {want}")
        self.got = got
        self.want = want


class RootMismatchError(VerificationError):
    """The root computed from a proof differs from the expected root."""

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        super().__init__(
            f"{what} mismatch: calculated {calculated.hex()}, expected {expected.hex()}"
        )
        self.expected = expected
        self.calculated = calculated


class IndexRangeError(VerificationError):
    """An index or size outside the range the operation allows."""


class SignatureError(VerificationError):
    """A signature that does not verify, or whose key is unknown, revoked or untrusted."""


class RuleViolation(LedgerError):
    """A business rule refused a record. ``rule_id`` is stable, e.g. ``QUAL-EXPIRED``."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.detail = message


class NotFoundError(LedgerError, LookupError):
    """A record, entry, participant or tree size that does not exist."""


class ConflictError(LedgerError):
    """A write that conflicts with what is already recorded (replayed id, duplicate key)."""


class StorageError(LedgerError):
    """The storage backend failed or holds data that contradicts itself."""
