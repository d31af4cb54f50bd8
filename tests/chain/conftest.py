"""Fixtures for the contract tests: one chain per backend, the contracts deployed on it.

``chain`` is parametrized over ``"eth-tester"`` (in process, py-evm, Prague) and ``"anvil"``
(a real node process started here on 127.0.0.1, once per xdist worker, stopped by its PID
with SIGINT then SIGKILL). Each backend's chain and deployment live for the session; every
test runs between a snapshot and a revert, so tests never see each other's state.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_support import Deployment, Parties

from anchors.chain import Chain, connect

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ANVIL_START_TIMEOUT = 20.0
BACKENDS = ["eth-tester", pytest.param("anvil", marks=pytest.mark.anvil)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """A fresh anvil node on a free 127.0.0.1 port for this worker's session."""
    if not ANVIL.is_file():
        pytest.fail(f"anvil is missing at {ANVIL}: run `make setup` (npm ci) first")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(ANVIL),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--silent",
            "--prune-history",
            "--hardfork",
            "prague",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ANVIL_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"anvil exited with code {process.returncode} before answering")
            try:
                connect(url, timeout=1.0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"anvil did not answer on {url} within {ANVIL_START_TIMEOUT}s")
                time.sleep(0.05)
        yield url
    finally:
        _stop(process)


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
