"""Helpers for the trade tests: a world with the story's cast, and refusal assertions."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.records import SignedRecord
from ledger.storage.db import Database
from ledger.storage.log import MerkleLog
from ledger.trade.errors import RecordRefused
from ledger.trade.ledger import Receipt, TradeLedger
from ledger.trade.scenario import Party, Scenario, cast
from ledger.trade.state import ROW_TYPES, load_all


def snapshot(led: TradeLedger) -> dict[str, Any]:
    """Everything the ledger has written: log size and every trade table."""
    with led.db.read() as tx:
        out: dict[str, Any] = {"log_size": led.log.size(tx)}
        for cls in ROW_TYPES:
            out[cls.TABLE] = load_all(tx, cls)
    return out


def open_ledger(url: str, scn: Scenario) -> TradeLedger:
    db = Database(url)
    return TradeLedger(db, scn.admin_keys, MerkleLog(db))


class World:
    """The story's cast enrolled and licensed, plus helpers to submit and expect refusals."""

    def __init__(self, url: str, seed: str = "world") -> None:
        self.scn = Scenario(seed)
        self.p, records = cast(self.scn)
        self.led = open_ledger(url, self.scn)
        self.ok(*records)

    def __getattr__(self, name: str) -> Party:
        try:
            return self.__dict__["p"][name]
        except KeyError:
            raise AttributeError(name) from None

    def ok(self, *records: SignedRecord) -> list[Receipt]:
        receipts = self.led.submit(list(records))
        assert [r.record_id for r in receipts] == [r.record.id for r in records]
        return receipts

    def refused(self, rule_id: str, *records: SignedRecord, **kw: Any) -> RecordRefused:
        before = snapshot(self.led)
        with pytest.raises(RecordRefused) as info:
            self.led.submit(list(records), **kw)
        assert info.value.rule_id == rule_id, str(info.value)
        assert snapshot(self.led) == before, "a refused batch changed the ledger"
        return info.value

    def stock(self, party: Party, batch_id: str) -> int:
        return self.led.stock(party.uscc, batch_id).on_hand
