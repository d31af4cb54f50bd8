"""The managed anvil node: starts on 127.0.0.1, answers JSON-RPC, keeps state across a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anchors.node import ANVIL_BINARY, POLL_LATENCY, AnvilNode, NodeError, rpc_answers

pytestmark = pytest.mark.anvil


def test_start_transact_stop_restart_keeps_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with AnvilNode.start(state_file=state) as node:
        assert node.url.startswith("http://127.0.0.1:")
        w3 = node.web3()
        accounts = w3.eth.accounts
        tx = w3.eth.send_transaction({"from": accounts[0], "to": accounts[7], "value": 4242})
        receipt = w3.eth.wait_for_transaction_receipt(tx, poll_latency=POLL_LATENCY)
        assert receipt.status == 1
        balance = w3.eth.get_balance(accounts[7])
        chain_id = w3.eth.chain_id
        pid = node.pid
    # Stopped: the process is gone and the state file was written.
    assert not node.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert state.stat().st_size > 0
    assert not rpc_answers(node.url)

    with AnvilNode.start(state_file=state, port=node.port) as again:
        w3 = again.web3()
        assert again.url == node.url
        assert w3.eth.chain_id == chain_id
        assert w3.eth.get_balance(accounts[7]) == balance
        assert w3.eth.get_transaction_receipt(tx)["blockNumber"] == receipt.blockNumber


def test_without_state_file_a_restart_starts_empty(tmp_path: Path) -> None:
    with AnvilNode.start() as node:
        w3 = node.web3()
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1]})
        w3.eth.wait_for_transaction_receipt(tx, poll_latency=POLL_LATENCY)
        assert w3.eth.block_number == 1
    with AnvilNode.start() as node:
        assert node.web3().eth.block_number == 0


def test_stop_is_idempotent_and_only_touches_its_pid() -> None:
    a = AnvilNode.start()
    b = AnvilNode.start()
    try:
        assert a.pid != b.pid and a.port != b.port
        assert a.stop() == 0
        assert a.stop() == 0
        assert b.running() and rpc_answers(b.url)
    finally:
        b.stop()


def test_busy_port_and_missing_binary_are_named_errors(tmp_path: Path) -> None:
    with AnvilNode.start() as node:
        with pytest.raises(NodeError, match="already in use"):
            AnvilNode.start(port=node.port, startup_timeout=10)
        assert rpc_answers(node.url)
    with pytest.raises(NodeError, match="not found"):
        AnvilNode.start(binary=tmp_path / "no-anvil")
    assert ANVIL_BINARY.is_file()


def test_state_interval_survives_a_crash(tmp_path: Path) -> None:
    import time

    state = tmp_path / "state.json"
    node = AnvilNode.start(state_file=state, state_interval=1)
    try:
        w3 = node.web3()
        accounts = w3.eth.accounts
        tx = w3.eth.send_transaction({"from": accounts[0], "to": accounts[3], "value": 99})
        w3.eth.wait_for_transaction_receipt(tx, poll_latency=POLL_LATENCY)
        balance = w3.eth.get_balance(accounts[3])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (state.exists() and state.stat().st_size):
            time.sleep(0.05)
        time.sleep(1.2)  # one more interval: the dump after the transaction
        assert node.kill() == -9
    finally:
        node.stop()
    with AnvilNode.start(state_file=state) as again:
        w3 = again.web3()
        assert w3.eth.get_balance(accounts[3]) == balance
        assert w3.eth.get_transaction_receipt(tx)["status"] == 1
