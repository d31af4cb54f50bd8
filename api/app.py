"""The FastAPI application, built by ``create_app(settings)``: nothing happens at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import auth, checkpoints, escrow, licences, records, trace
from api.service import LedgerService
from api.settings import Settings

DESCRIPTION = """
lotproof: a permissioned, verifiable traceability and audit ledger for pharmaceutical trade.

* Submit signed records (`POST /v1/records`); the signature is the credential.
* Read with a bearer token obtained by signing a challenge with an enrolled Ed25519 key
  (`POST /v1/auth/challenge`, then `POST /v1/auth/token`).
* Every query answers with a **proof bundle** (docs/bundle.md) that `lotproof audit verify`
  checks offline. Errors are JSON: `{"error": {"type", "message", "rule_id"?}}`.
"""


def create_app(settings: Settings, service: LedgerService | None = None) -> FastAPI:
    """Build the app. ``service`` may be given (tests share one); else it is built here."""
    svc = service or LedgerService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            if service is None:
                svc.close()
            else:
                svc.sequencer.stop()

    app = FastAPI(
        title="lotproof",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = svc
    install_error_handlers(app)
    for module in (auth, records, checkpoints, trace, escrow, licences):
        app.include_router(module.router)
    app.include_router(trace.public)
    from api.routes import epcis  # GS1 EPCIS 2.0 export (docs/epcis.md)

    app.include_router(epcis.router)

    @app.get("/healthz", tags=["log"])
    def healthz() -> dict[str, Any]:
        return {
            "ok": svc.sequencer.last_error is None,
            "tree_size": svc.log.size(),
            "sequencer_error": svc.sequencer.last_error,
            "anchor_error": svc.sequencer.anchor_error,
        }

    return app
