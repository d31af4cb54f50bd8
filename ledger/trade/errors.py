"""Errors of the trade ledger: the shared hierarchy plus where in a batch it failed."""

from __future__ import annotations

from ledger.errors import MalformedInputError, RuleViolation


class RecordRefused(RuleViolation):
    """A rule refused record ``index`` (0-based) of a submitted batch; nothing was written."""

    def __init__(self, rule_id: str, detail: str, index: int, record_id: str) -> None:
        super().__init__(rule_id, f"record {index} ({record_id}): {detail}")
        self.index = index
        self.record_id = record_id
        self.reason = detail


class MalformedRecord(MalformedInputError):
    """Record ``index`` of a submitted batch is not of the expected form; nothing was written."""

    def __init__(self, detail: str, index: int, record_id: str) -> None:
        super().__init__(f"record {index} ({record_id}): {detail}")
        self.index = index
        self.record_id = record_id
        self.reason = detail
