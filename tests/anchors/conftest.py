"""Fixtures for the chain-client tests: the persistent embedded chain, anvil nodes, and the
project's contracts deployed on either."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anchor_support import Deployed, deploy_contracts

from anchors.chain import Chain
from anchors.embedded import EmbeddedChain, open_embedded_chain
from anchors.node import AnvilNode


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedChain]:
    chain = open_embedded_chain(tmp_path / "chain.sqlite")
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[AnvilNode]:
    node = AnvilNode.start(state_file=tmp_path / "anvil-state.json")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def any_chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """The persistent embedded chain, then a real anvil node."""
    if request.param == "embedded":
        embedded = open_embedded_chain(tmp_path / "chain.sqlite")
        try:
            yield embedded.connect()
        finally:
            embedded.close()
    else:
        with AnvilNode.start() as node:
            from anchors.chain import connect

            yield connect(node.url)


@pytest.fixture
def deployed(any_chain: Chain) -> Deployed:
    return deploy_contracts(any_chain)
