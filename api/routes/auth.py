"""Authentication: challenge, token, who am I."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, ServiceDep
from api.schemas import (
    ERROR_RESPONSES,
    ChallengeIn,
    ChallengeOut,
    TokenIn,
    TokenOut,
    WhoAmI,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/challenge", response_model=ChallengeOut)
def challenge(body: ChallengeIn, service: ServiceDep) -> ChallengeOut:
    """A single-use nonce for an enrolled key to sign (see api/auth.py for the bytes)."""
    c = service.issue_challenge(body.key_id)
    return ChallengeOut(
        nonce=c.nonce, key_id=c.key_id, audience=service.audience, expires_at=c.expires_at
    )


@router.post("/token", response_model=TokenOut)
def token(body: TokenIn, service: ServiceDep) -> TokenOut:
    """Exchange a signed challenge for a short-lived bearer token."""
    tok, expires, principal = service.issue_token(
        body.key_id, body.nonce, bytes.fromhex(body.signature)
    )
    return TokenOut(
        token=tok, expires_at=expires, actor=principal.actor, roles=sorted(principal.roles)
    )


@router.get("/whoami", response_model=WhoAmI)
def whoami(principal: PrincipalDep) -> WhoAmI:
    return WhoAmI(actor=principal.actor, key_id=principal.key_id, roles=sorted(principal.roles))
