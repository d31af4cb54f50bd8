"""Authentication by enrolled Ed25519 key: challenge, signature, short-lived bearer token.

1. ``POST /v1/auth/challenge {"key_id"}`` returns a single-use ``nonce`` and its expiry.
2. The client signs ``challenge_message(audience, key_id, nonce, expires_at)``: the bytes
   ``b"lotproof/auth/v1\\n"`` followed by the canonical JSON of
   ``{"aud", "expires_at", "key_id", "nonce"}``. The domain prefix differs from the record
   signing domain, so an auth signature can never pass as a record signature or vice versa.
3. ``POST /v1/auth/token {"key_id", "nonce", "signature"}`` checks the signature against the
   key's enrolled public key (and that the key is in good standing) and returns a bearer
   token valid for ``token_ttl`` seconds.

Tokens are ``lp1.<base64url(payload)>.<base64url(HMAC-SHA256(secret, payload))>`` with the
canonical JSON payload ``{"exp", "kid", "sub"}``; the server checks the key's standing again
on every request, so revoking a key cuts its tokens off at once. No shared secret ever
travels in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from api.errors import AuthenticationError
from ledger.canonical import canonical_bytes, parse_json
from ledger.errors import MalformedInputError, SignatureError
from ledger.records import verify_signature

AUTH_DOMAIN = b"lotproof/auth/v1\n"
TOKEN_PREFIX = "lp1"  # noqa: S105 - a format tag, not a secret

READ_ALL_ROLES = frozenset({"auditor", "regulator"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: an enrolled participant's key, or the anonymous public."""

    actor: str
    key_id: str
    roles: frozenset[str]

    @property
    def reads_everything(self) -> bool:
        return bool(self.roles & READ_ALL_ROLES)


def challenge_message(audience: str, key_id: str, nonce: str, expires_at: int) -> bytes:
    """The exact bytes a client signs to answer a challenge."""
    return AUTH_DOMAIN + canonical_bytes(
        {"aud": audience, "expires_at": expires_at, "key_id": key_id, "nonce": nonce}
    )


@dataclass(frozen=True)
class Challenge:
    nonce: str
    key_id: str
    expires_at: int


class ChallengeStore:
    """Login challenges that need no storage until they are answered.

    A challenge's nonce is 16 bytes, as 32 hex digits: its expiry (4 bytes, Unix seconds), 4
    random bytes, and the first 8 bytes of an HMAC-SHA256, under a secret of this process,
    over the key id and those 8 bytes. Issuing one stores nothing, so no number of requests for
    challenges can push out another caller's (the key ids are public). Answering one checks
    the MAC (the challenge was issued here, to this key), the expiry, and that it was not
    answered before: the answered nonces are kept until they expire, each usable once.
    """

    def __init__(self, ttl: int = 120, secret: bytes | None = None) -> None:
        self.ttl = ttl
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._used: dict[str, int] = {}  # answered nonce -> its expiry
        self._prune_at = 1024
        self._lock = threading.Lock()

    def _mac(self, key_id: str, body: bytes) -> bytes:
        return hmac.new(self._secret, key_id.encode() + b"|" + body, hashlib.sha256).digest()[:8]

    def issue(self, key_id: str, now: int) -> Challenge:
        expires_at = now + self.ttl
        body = expires_at.to_bytes(4, "big") + secrets.token_bytes(4)
        return Challenge((body + self._mac(key_id, body)).hex(), key_id, expires_at)

    def take(self, nonce: str, key_id: str, now: int) -> Challenge:
        """Use the challenge once; raise unless it was issued here to key_id and is unexpired."""
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            raw = b""
        body, mac = raw[:8], raw[8:]
        if len(raw) != 16 or not hmac.compare_digest(mac, self._mac(key_id, body)):
            raise AuthenticationError(
                f"challenge {nonce[:32]!r} is unknown or already used (or not issued to key"
                f" {key_id})"
            )
        expires_at = int.from_bytes(body[:4], "big")
        if now > expires_at:
            raise AuthenticationError(f"challenge expired at {expires_at}, now {now}")
        with self._lock:
            if nonce in self._used:
                raise AuthenticationError(f"challenge {nonce[:32]!r} is unknown or already used")
            if len(self._used) >= self._prune_at:  # forget answered nonces that expired
                self._used = {n: t for n, t in self._used.items() if t >= now}
                self._prune_at = max(1024, 2 * len(self._used))  # amortized: O(1) a take
            self._used[nonce] = expires_at
        return Challenge(nonce, key_id, expires_at)


def verify_challenge_signature(
    audience: str, challenge: Challenge, public_key: bytes, signature: bytes
) -> None:
    message = challenge_message(audience, challenge.key_id, challenge.nonce, challenge.expires_at)
    try:
        verify_signature(public_key, message, signature, f"challenge for key {challenge.key_id}")
    except SignatureError as e:
        raise AuthenticationError(str(e)) from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as e:
        raise AuthenticationError("bearer token is not base64url") from e


@dataclass(frozen=True)
class TokenClaims:
    actor: str
    key_id: str
    expires_at: int


class TokenIssuer:
    """Issues and checks HMAC bearer tokens; any worker sharing ``secret`` accepts them."""

    def __init__(self, secret: bytes, ttl: int = 900) -> None:
        if len(secret) < 32:
            raise MalformedInputError(f"token secret has {len(secret)} bytes, want >= 32")
        self._secret = secret
        self.ttl = ttl

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, actor: str, key_id: str, now: int) -> tuple[str, int]:
        expires_at = now + self.ttl
        payload = canonical_bytes({"exp": expires_at, "kid": key_id, "sub": actor})
        return f"{TOKEN_PREFIX}.{_b64(payload)}.{_b64(self._mac(payload))}", expires_at

    def check(self, token: str, now: int) -> TokenClaims:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise AuthenticationError("bearer token is not of the form lp1.<payload>.<mac>")
        payload, mac = _unb64(parts[1]), _unb64(parts[2])
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise AuthenticationError("bearer token signature does not verify")
        try:
            claims = parse_json(payload, "token payload")
        except MalformedInputError as e:
            raise AuthenticationError(str(e)) from None
        if not isinstance(claims, dict) or set(claims) != {"exp", "kid", "sub"}:
            raise AuthenticationError("bearer token payload has the wrong fields")
        exp, kid, sub = claims["exp"], claims["kid"], claims["sub"]
        if not isinstance(exp, int) or not isinstance(kid, str) or not isinstance(sub, str):
            raise AuthenticationError("bearer token payload has the wrong types")
        if now >= exp:
            raise AuthenticationError(f"bearer token expired at {exp}, now {now}")
        return TokenClaims(actor=sub, key_id=kid, expires_at=exp)
