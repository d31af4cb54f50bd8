"""Typed dependencies: the service and the caller, taken from the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import Principal
from api.errors import AuthenticationError
from api.service import LedgerService


def get_service(request: Request) -> LedgerService:
    service: LedgerService = request.app.state.service
    return service


ServiceDep = Annotated[LedgerService, Depends(get_service)]


def get_optional_principal(request: Request, service: ServiceDep) -> Principal | None:
    """The caller named by ``Authorization: Bearer <token>``, or None without the header.

    A header that is present but wrong is refused (401), never treated as anonymous.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization must be 'Bearer <token>'")
    return service.authenticate(token.strip())


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


def get_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise AuthenticationError("this endpoint needs a bearer token (POST /v1/auth/token)")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
