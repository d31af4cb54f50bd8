"""The anchor publisher: idempotent, resumes after an outage without duplicates or gaps, and a
rewritten local history is refused by the registry and reported."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from anchor_support import (  # noqa: F401 - fixtures `any_chain`, `deployed`
    Deployed,
    MemorySource,
    any_chain_fixture,
    deploy_contracts,
    deployed_fixture,
)

from anchors.chain import connect
from anchors.check import (
    check_checkpoint_against_anchor,
    fetch_anchor,
    fetch_anchor_at,
    fetch_latest_anchor,
)
from anchors.errors import ChainError, ContractRevert
from anchors.node import AnvilNode
from anchors.publisher import (
    AlreadyAnchored,
    AnchorConflictError,
    AnchorPublisher,
    AnchorResult,
    HistoryRewrittenError,
)
from ledger.merkle import MemoryTree
from ledger.storage.db import open_database
from ledger.storage.log import LogEntry, MerkleLog


def chain_anchors(d: Deployed) -> list[tuple[int, bytes]]:
    count = d.registry.functions.anchorCount().call()
    return [(a.tree_size, a.root) for a in (fetch_anchor_at(d.registry, i) for i in range(count))]


def assert_anchors_form_one_history(anchors: list[tuple[int, bytes]], tree: MemoryTree) -> None:
    sizes = [size for size, _ in anchors]
    assert sizes == sorted(set(sizes)), f"duplicate or unordered anchors: {sizes}"
    for size, root in anchors:
        assert root == tree.root(size)
    for (s1, r1), (s2, r2) in itertools.pairwise(anchors):
        check_checkpoint_against_anchor(s2, r2, s1, r1, tree.consistency_proof(s1, s2))


def test_publish_once_is_idempotent_and_chains_proofs(deployed: Deployed) -> None:
    d = deployed
    source = MemorySource()
    publisher = AnchorPublisher(d.registry, d.anchorer, source)

    nothing = publisher.publish_once()
    assert nothing == AlreadyAnchored(None, 0)
    assert fetch_latest_anchor(d.registry) is None

    first = source.grow(5)
    result = publisher.publish_once()
    assert isinstance(result, AnchorResult)
    assert (result.index, result.tree_size, result.root) == (0, 5, first.root)
    assert len(result.tx_hash) == 32 and result.block_number > 0
    again = publisher.publish_once()
    assert isinstance(again, AlreadyAnchored)
    assert again.latest is not None and again.latest.tree_size == 5

    for n in (1, 7, 20):
        source.grow(n)
        step = publisher.publish_once()
        assert isinstance(step, AnchorResult)
        assert step.tree_size == source.tree.size
    assert [s for s, _ in chain_anchors(d)] == [5, 6, 13, 33]
    assert_anchors_form_one_history(chain_anchors(d), source.tree)

    # The auditor's view: a checkpoint the log shows later is checked against an anchor.
    source.grow(9)
    anchor = fetch_anchor(d.registry, 13)
    assert anchor.index == 2
    check_checkpoint_against_anchor(
        source.tree.size,
        source.tree.root(),
        anchor.tree_size,
        anchor.root,
        source.tree.consistency_proof(13, source.tree.size),
    )

    # A second publisher (a restart) reads the chain, not its memory: no duplicate.
    restarted = AnchorPublisher(d.registry, d.anchorer, source, chain=d.chain)
    result = restarted.publish_once()
    assert isinstance(result, AnchorResult) and result.index == 4
    assert isinstance(publisher.publish_once(), AlreadyAnchored)


def test_rewritten_history_is_refused_by_the_registry(deployed: Deployed) -> None:
    d = deployed
    honest = MemorySource()
    honest.grow(8)
    publisher = AnchorPublisher(d.registry, d.anchorer, honest, chain=d.chain)
    assert isinstance(publisher.publish_once(), AnchorResult)

    # The same log, but with leaf 3 rewritten, now at 12 leaves: its own consistency proof
    # from 8 to 12 is well-formed, yet the registry's anchored root for 8 differs.
    forked = MemorySource()
    forked.grow(3)
    forked.grow(1, salt=b"rewritten")
    forked.grow(8)
    assert forked.root(8) != honest.root(8)
    rogue = AnchorPublisher(d.registry, d.anchorer, forked, chain=d.chain)
    with pytest.raises(HistoryRewrittenError) as info:
        rogue.publish_once()
    error = info.value
    assert isinstance(error, ContractRevert)
    assert error.error_name == "AnchorRegistryInconsistentHistory"
    assert len(error.selector) == 4
    message = str(error)
    assert honest.root(8).hex() in message and forked.root(8).hex() in message
    assert "AnchorRegistryInconsistentHistory" in message
    assert [s for s, _ in chain_anchors(d)] == [8]

    # run() stops on it instead of retrying forever, and reports why.
    report = rogue.run(threading.Event(), interval=0.01, max_rounds=50)
    assert report.rounds == 1
    assert isinstance(report.fatal, HistoryRewrittenError)
    assert report.published == []

    # Same size, other root: nothing to send, but the divergence is reported.
    same_size = MemorySource()
    same_size.grow(7)
    same_size.grow(1, salt=b"x")
    with pytest.raises(AnchorConflictError, match="not the anchored history"):
        AnchorPublisher(d.registry, d.anchorer, same_size, chain=d.chain).publish_once()


def test_only_the_anchorer_can_publish(deployed: Deployed) -> None:
    d = deployed
    source = MemorySource()
    source.grow(4)
    with pytest.raises(ContractRevert) as info:
        AnchorPublisher(d.registry, d.other, source, chain=d.chain).publish_once()
    assert info.value.error_name == "AccessControlUnauthorizedAccount"
    assert fetch_latest_anchor(d.registry) is None


def test_publishes_a_merkle_log_on_both_databases(database_url: str, tmp_path: Path) -> None:
    from anchors.embedded import open_embedded_chain

    db = open_database(database_url)
    try:
        log = MerkleLog(db)
        with open_embedded_chain(tmp_path / "chain.sqlite") as embedded:
            d = deploy_contracts(embedded.connect())
            publisher = AnchorPublisher(d.registry, d.anchorer, log)
            for batch in (3, 10, 1):
                with db.write() as tx:
                    start = log.size(tx)
                    log.append(
                        tx, [LogEntry(leaf=f"leaf {start + i}".encode()) for i in range(batch)]
                    )
                    size = log.size(tx)
                    log.save_checkpoint(tx, size, log.root(size, tx), f"note {size}")
                result = publisher.publish_once()
                assert isinstance(result, AnchorResult)
                assert result.tree_size == size and result.root == log.root(size)
            assert isinstance(publisher.publish_once(), AlreadyAnchored)
            anchors = chain_anchors(d)
            assert [s for s, _ in anchors] == [3, 13, 14]
            for size, root in anchors:
                assert root == log.root(size)
    finally:
        db.close()


@pytest.mark.anvil
def test_resumes_after_an_outage_without_duplicates_or_gaps(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    node = AnvilNode.start(state_file=state)
    port = node.port
    try:
        d = deploy_contracts(connect(node.url))
        source = MemorySource()
        source.grow(2)
        publisher = AnchorPublisher(d.registry, d.anchorer, source, chain=d.chain)
        stop = threading.Event()
        reports = []
        thread = threading.Thread(
            target=lambda: reports.append(publisher.run(stop, interval=0.02, max_rounds=5000))
        )
        thread.start()
        try:

            def wait_for_anchor(size: int, timeout: float = 30.0) -> None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    try:
                        latest = fetch_latest_anchor(d.registry)
                    except ChainError:
                        latest = None
                    if latest is not None and latest.tree_size >= size:
                        return
                    time.sleep(0.02)
                raise AssertionError(f"size {size} was not anchored within {timeout} s")

            for n in (3, 4, 5):
                wait_for_anchor(source.grow(n).tree_size)
            # Outage: the node goes away while the log keeps growing.
            assert node.stop() == 0
            for n in (1, 2, 3):
                source.grow(n)
                time.sleep(0.1)
            node = AnvilNode.start(state_file=state, port=port)
            wait_for_anchor(source.tree.size)
            for n in (6, 1):
                wait_for_anchor(source.grow(n).tree_size)
        finally:
            stop.set()
            thread.join(timeout=60)
        assert not thread.is_alive()
        (report,) = reports
        assert report.fatal is None
        assert report.outages >= 1
        anchors = chain_anchors(d)
        assert anchors[-1] == (source.tree.size, source.tree.root())
        assert_anchors_form_one_history(anchors, source.tree)
        published = [r.tree_size for r in report.published]
        assert published == sorted(set(published))
        assert set(published) <= {s for s, _ in anchors}
        assert [r.index for r in report.published] == [
            [s for s, _ in anchors].index(r.tree_size) for r in report.published
        ]
    finally:
        node.stop()
