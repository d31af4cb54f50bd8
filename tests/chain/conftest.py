"""Fixtures for the contract tests: one chain per backend, the contracts deployed on it.

``chain`` is parametrized over ``"eth-tester"`` (in process, py-evm, Prague) and ``"anvil"``
(a real node process started here on 127.0.0.1, once per xdist worker, stopped by its PID
with SIGINT then SIGKILL). Each backend's chain and deployment live for the session; every
test runs between a snapshot and a revert, so tests never see each other's state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_support import Deployment, Parties

from anchors.chain import Chain, connect
from anchors.node import AnvilNode, NodeError

ANVIL_START_TIMEOUT = 20.0
BACKENDS = ["eth-tester", pytest.param("anvil", marks=pytest.mark.anvil)]


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """A fresh anvil node on a free 127.0.0.1 port for this worker's session, stopped by PID."""
    try:
        node = AnvilNode.start(startup_timeout=ANVIL_START_TIMEOUT)
    except NodeError as e:
        pytest.fail(str(e))
    try:
        yield node.url
    finally:
        node.stop()


_sessions: dict[str, Deployment] = {}


def _deploy(chain: Chain) -> Deployment:
    accounts = chain.accounts
    parties = Parties(*accounts[:7])
    registry = chain.deploy("AnchorRegistry", parties.admin, parties.anchorer)
    escrow = chain.deploy("TradeEscrow", parties.admin, parties.arbiter, registry.address)
    token = chain.deploy("TestToken", "Test Yuan", "TCNY")
    for account in (parties.buyer, parties.seller, parties.buyer2):
        chain.transact(escrow.functions.enrol(account), parties.admin)
        chain.transact(token.functions.mint(account, 10**24), parties.admin)
    return Deployment(chain, parties, registry, escrow, token)


@pytest.fixture(params=BACKENDS)
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """The session's deployment on one backend, reverted to its pristine state after the test."""
    backend = str(request.param)
    if backend not in _sessions:
        url = None if backend == "eth-tester" else request.getfixturevalue("anvil_url")
        _sessions[backend] = _deploy(connect(url))
    session = _sessions[backend]
    snapshot = session.chain.snapshot()
    try:
        yield session
    finally:
        session.chain.revert_to(snapshot)


@pytest.fixture
def chain(deployment: Deployment) -> Chain:
    return deployment.chain
