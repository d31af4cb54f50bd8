"""Shared helpers of the API tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.client import LotproofClient
from api.service import LedgerService
from api.settings import Settings
from ledger.records import SigningKey
from ledger.trade.scenario import Scenario, Story, trade_story


@dataclass
class Api:
    service: LedgerService
    http: TestClient
    story: Story

    def client(self, key: SigningKey | None = None) -> LotproofClient:
        return LotproofClient("http://testserver", key, http=self.http)

    def party_key(self, name: str) -> SigningKey:
        return self.story.parties[name].key

    def uscc(self, name: str) -> str:
        return self.story.parties[name].uscc


def fresh_story() -> Story:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return trade_story(Scenario("api-tests", start=start))


def make_api(tmp_path: Path, database_url: str | None = None, chain: str = "none") -> Api:
    story = fresh_story()
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_keys=story.scn.admin_keys,
        database_url=database_url,
        chain=chain,  # type: ignore[arg-type]
        origin="lotproof.test/log",
        sequencer_interval=0.05,
        anchor_interval=0.2,
    )
    service = LedgerService(settings)
    app = create_app(settings, service)
    http = TestClient(app)
    http.__enter__()
    return Api(service, http, story)
