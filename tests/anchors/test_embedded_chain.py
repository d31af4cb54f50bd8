"""The persistent embedded chain keeps its state across close and re-open, in a new process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from anchor_support import embedded_fixture  # noqa: F401 - the `embedded` fixture

from anchors.embedded import (
    DEV_PRIVATE_KEYS,
    EmbeddedChain,
    EmbeddedChainError,
    open_embedded_chain,
)

ROOT = Path(__file__).resolve().parents[2]

# A tiny contract in raw EVM bytecode (no compiler needed): any call with calldata adds one
# to storage slot 0; every call returns slot 0 as a 32-byte word.
COUNTER_RUNTIME = "6000543615600f57600101806000555b60005260206000f3"
COUNTER_INIT = "0x601880600b6000396000f3" + COUNTER_RUNTIME

# Run in a fresh interpreter: opens the chain, reads the counter and a balance, optionally
# bumps the counter once more, prints what it saw as JSON.
CHILD = """
import json, sys
from pathlib import Path
from anchors.embedded import open_embedded_chain
path, counter, bump = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "bump"
with open_embedded_chain(path) as chain:
    w3 = chain.w3
    seen = {
        "chain_id": w3.eth.chain_id,
        "block": w3.eth.block_number,
        "counter": int.from_bytes(w3.eth.call({"to": counter}), "big"),
        "balance": w3.eth.get_balance(chain.accounts[5]),
        "code": w3.eth.get_code(counter).hex(),
    }
    if bump:
        tx = w3.eth.send_transaction({"from": chain.accounts[0], "to": counter, "data": "0x01"})
        seen["bump_status"] = w3.eth.wait_for_transaction_receipt(tx).status
print(json.dumps(seen))
"""


def run_child(path: Path, counter: str, bump: bool) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), counter, "bump" if bump else "read"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def counter_value(chain: EmbeddedChain, address: str) -> int:
    return int.from_bytes(chain.w3.eth.call({"to": address}), "big")


def deploy_counter(chain: EmbeddedChain) -> str:
    w3 = chain.w3
    tx = w3.eth.send_transaction({"from": chain.accounts[0], "data": COUNTER_INIT})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1
    assert receipt.contractAddress is not None
    return str(receipt.contractAddress)


def bump(chain: EmbeddedChain, address: str) -> None:
    tx = chain.w3.eth.send_transaction({"from": chain.accounts[1], "to": address, "data": "0x01"})
    assert chain.w3.eth.wait_for_transaction_receipt(tx).status == 1


def test_state_survives_reopen_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with open_embedded_chain(path) as chain:
        chain_id = chain.w3.eth.chain_id
        counter = deploy_counter(chain)
        for _ in range(3):
            bump(chain, counter)
        tx = chain.w3.eth.send_transaction(
            {"from": chain.accounts[0], "to": chain.accounts[5], "value": 12345}
        )
        chain.w3.eth.wait_for_transaction_receipt(tx)
        balance = chain.w3.eth.get_balance(chain.accounts[5])
        block = chain.w3.eth.block_number
        code = chain.w3.eth.get_code(counter).hex()
        assert counter_value(chain, counter) == 3

    seen = run_child(path, counter, bump=True)
    assert seen["chain_id"] == chain_id
    assert seen["block"] == block
    assert seen["counter"] == 3
    assert seen["balance"] == balance
    assert seen["code"] == code
    assert seen["bump_status"] == 1

    # What the child did is visible here too, on the same chain, with its history intact.
    with open_embedded_chain(path) as chain:
        assert chain.w3.eth.chain_id == chain_id
        assert chain.w3.eth.block_number == block + 1
        assert counter_value(chain, counter) == 4
        assert chain.w3.eth.get_block(1)["transactions"]
        bump(chain, counter)
        assert counter_value(chain, counter) == 5


def test_dev_accounts_are_the_documented_keys(embedded: EmbeddedChain) -> None:
    from eth_account import Account

    derived = [Account.from_key(key).address for key in DEV_PRIVATE_KEYS]
    assert derived == embedded.accounts
    assert embedded.w3.eth.get_balance(embedded.accounts[9]) > 10**18
    # A transaction signed offline with a documented key is accepted.
    signed = Account.sign_transaction(
        {
            "to": embedded.accounts[1],
            "value": 7,
            "gas": 21000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1,
            "nonce": 0,
            "chainId": embedded.chain_id,
        },
        DEV_PRIVATE_KEYS[2],
    )
    tx = embedded.w3.eth.send_raw_transaction(signed.raw_transaction)
    assert embedded.w3.eth.wait_for_transaction_receipt(tx).status == 1


def test_unsaved_changes_are_lost_saved_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with open_embedded_chain(path, autosave=False) as chain:
        counter = deploy_counter(chain)
        assert chain.save() > 0
        bump(chain, counter)
        # Simulate a crash: drop the in-memory chain without saving.
        chain._release()
    with open_embedded_chain(path) as chain:
        assert counter_value(chain, counter) == 0
        assert chain.w3.eth.block_number == 1


def test_second_open_of_the_same_file_is_refused(embedded: EmbeddedChain) -> None:
    with pytest.raises(EmbeddedChainError, match="open in another process"):
        open_embedded_chain(embedded.path)


def test_a_file_from_another_chain_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with open_embedded_chain(path) as chain:
        deploy_counter(chain)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE name = 'genesis_hash'", (b"\x01" * 32,))
    with pytest.raises(EmbeddedChainError, match="genesis_hash"):
        open_embedded_chain(path)
    # The refused open released its lock: a fresh file opens fine.
    with open_embedded_chain(tmp_path / "other.sqlite") as chain:
        assert chain.block_number == 0


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EmbeddedChainError, match="cannot open"):
        open_embedded_chain(path)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedChainError, match="does not exist"):
        open_embedded_chain(tmp_path / "nowhere" / "chain.sqlite")


def test_time_travel_persists(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with open_embedded_chain(path) as chain:
        now = chain.w3.eth.get_block("latest")["timestamp"]
        chain.time_travel(now + 86_400)
        assert chain.w3.eth.get_block("latest")["timestamp"] == now + 86_400
    with open_embedded_chain(path) as chain:
        assert chain.w3.eth.get_block("latest")["timestamp"] == now + 86_400
        tx = chain.w3.eth.send_transaction(
            {"from": chain.accounts[0], "to": chain.accounts[1], "value": 1}
        )
        chain.w3.eth.wait_for_transaction_receipt(tx)
        assert chain.w3.eth.get_block("latest")["timestamp"] > now + 86_400


def test_closed_chain_refuses_use(tmp_path: Path) -> None:
    chain = open_embedded_chain(tmp_path / "chain.sqlite")
    chain.close()
    chain.close()  # idempotent
    with pytest.raises(EmbeddedChainError, match="closed"):
        chain.save()


# Re-open the chain in a fresh interpreter and report what it finds of the contracts.
CONTRACTS_CHILD = """
import json, sys
from pathlib import Path
from anchors.check import fetch_anchor_at, fetch_latest_anchor
from anchors.embedded import open_embedded_chain
from anchors.escrow import EscrowClient
path, registry, escrow, buyer = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with open_embedded_chain(path) as embedded:
    chain = embedded.connect()
    reg = chain.contract("AnchorRegistry", registry)
    client = EscrowClient(chain.contract("TradeEscrow", escrow), chain)
    count = reg.functions.anchorCount().call()
    anchors = [fetch_anchor_at(reg, i) for i in range(count)]
    orders = [bytes([n]) * 32 for n in (1, 2)]
    print(json.dumps({
        "chain_id": chain.chain_id,
        "anchors": [[a.tree_size, a.root.hex()] for a in anchors],
        "latest": fetch_latest_anchor(reg).tree_size,
        "escrows": [[s.state.name, s.amount, s.seller] for s in
                    (client.status(buyer, o) for o in orders)],
        "events": [e.name for e in client.read_events()],
    }))
"""


def test_restart_finds_anchors_and_escrows(tmp_path: Path) -> None:
    from anchor_support import MemorySource, deploy_contracts

    from anchors.check import fetch_latest_anchor
    from anchors.escrow import EscrowClient, EscrowState
    from anchors.publisher import AnchorPublisher, AnchorResult

    path = tmp_path / "chain.sqlite"
    source = MemorySource()
    orders = [bytes([n]) * 32 for n in (1, 2)]
    with open_embedded_chain(path) as embedded:
        d = deploy_contracts(embedded.connect())
        publisher = AnchorPublisher(d.registry, d.anchorer, source, chain=d.chain)
        for n in (4, 9):
            source.grow(n)
            assert isinstance(publisher.publish_once(), AnchorResult)
        client = EscrowClient(d.escrow, d.chain)
        deadline = d.chain.timestamp() + 3600
        client.deposit(d.buyer, orders[0], d.seller, 500, deadline)
        client.deposit(d.buyer, orders[1], d.seller, 800, deadline)
        client.release(d.buyer, orders[0], 500)
        chain_id = d.chain.chain_id

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CONTRACTS_CHILD,
            str(path),
            d.registry.address,
            d.escrow.address,
            d.buyer,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["chain_id"] == chain_id
    assert seen["anchors"] == [[4, source.tree.root(4).hex()], [13, source.tree.root(13).hex()]]
    assert seen["latest"] == 13
    assert seen["escrows"] == [["RELEASED", 500, d.seller], ["FUNDED", 800, d.seller]]
    assert [e for e in seen["events"] if e != "Enrolled"] == ["Deposited", "Deposited", "Released"]

    # Reopened here: the publisher resumes from the chain's anchor, the escrow settles.
    with open_embedded_chain(path) as embedded:
        chain = embedded.connect()
        registry = chain.contract("AnchorRegistry", d.registry.address)
        client = EscrowClient(chain.contract("TradeEscrow", d.escrow.address), chain)
        source.grow(3)
        result = AnchorPublisher(registry, d.anchorer, source, chain=chain).publish_once()
        assert isinstance(result, AnchorResult) and result.index == 2
        client.release(d.buyer, orders[1], 800)
        assert client.status(d.buyer, orders[1]).state is EscrowState.RELEASED
    with open_embedded_chain(path) as embedded:
        chain = embedded.connect()
        registry = chain.contract("AnchorRegistry", d.registry.address)
        latest = fetch_latest_anchor(registry)
        assert latest is not None and latest.tree_size == 16


def test_time_travel_backwards_is_refused(embedded: EmbeddedChain) -> None:
    latest = embedded.w3.eth.get_block("latest")["timestamp"]
    block = embedded.block_number
    for bad in (latest, latest - 10, True, "soon"):
        with pytest.raises(EmbeddedChainError, match="time travel"):
            embedded.time_travel(bad)  # type: ignore[arg-type]
    assert embedded.block_number == block


def test_threads_share_the_chain_and_everything_is_saved(tmp_path: Path) -> None:
    import threading

    from anchor_support import MemorySource, deploy_contracts

    from anchors.check import fetch_latest_anchor
    from anchors.escrow import EscrowClient, EscrowState
    from anchors.publisher import AnchorPublisher

    path = tmp_path / "chain.sqlite"
    source = MemorySource()
    source.grow(1)
    with open_embedded_chain(path) as embedded:
        d = deploy_contracts(embedded.connect())
        publisher = AnchorPublisher(d.registry, d.anchorer, source, chain=d.chain)
        stop = threading.Event()
        reports = []
        worker = threading.Thread(
            target=lambda: reports.append(publisher.run(stop, interval=0.0, max_rounds=10_000))
        )
        worker.start()
        client = EscrowClient(d.escrow, d.chain)
        deadline = d.chain.timestamp() + 3600
        try:
            for n in range(8):
                source.grow(3)
                client.deposit(d.buyer, bytes([n + 1]) * 32, d.seller, 100 + n, deadline)
        finally:
            stop.set()
            worker.join(timeout=60)
        (report,) = reports
        assert report.fatal is None and report.outages == 0
        assert report.published
        # Whatever the loop had not caught up with yet is anchored now.
        AnchorPublisher(d.registry, d.anchorer, source, chain=d.chain).publish_once()
    with open_embedded_chain(path) as embedded:
        chain = embedded.connect()
        latest = fetch_latest_anchor(chain.contract("AnchorRegistry", d.registry.address))
        assert latest is not None
        assert (latest.tree_size, latest.root) == (source.tree.size, source.tree.root())
        client = EscrowClient(chain.contract("TradeEscrow", d.escrow.address), chain)
        for n in range(8):
            status = client.status(d.buyer, bytes([n + 1]) * 32)
            assert (status.state, status.amount) == (EscrowState.FUNDED, 100 + n)
