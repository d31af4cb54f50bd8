"""The anchor publisher: posts the log's latest checkpoint to the AnchorRegistry.

Each ``publish_once()`` reads the chain's latest anchor *from the chain* (not from memory),
and anchors the source's latest checkpoint only if it is larger, with the RFC 9162
consistency proof from that anchored size. So publishing is idempotent, survives restarts,
and resumes after a chain outage with no duplicate (the registry refuses a size that is not
larger than its latest) and no gap (every anchor is proved consistent with the one before).

A local history that does not extend the anchored one (a rewritten log) is refused by the
registry itself (``AnchorRegistryInconsistentHistory``); the publisher reports it as
``HistoryRewrittenError``, a ``ContractRevert`` that also names both roots, and ``run()``
stops: retrying cannot help, a human must look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from anchors.chain import Chain, Sender
from anchors.check import Anchor, fetch_latest_anchor
from anchors.errors import ChainError, ContractRevert
from ledger.errors import LedgerError

log = logging.getLogger("lotproof.anchors.publisher")

#: Gas limit of an anchor transaction: a fixed part plus a part per consistency-proof hash.
#: Measured use is ~94k for the first anchor and ~93k with a 14-hash proof, so both parts
#: leave a wide margin; only the gas used is paid. Giving a limit skips the node's gas
#: estimation, which on the in-process EVM re-executes the transaction about 13 times.
ANCHOR_GAS_BASE = 160_000
ANCHOR_GAS_PER_HASH = 6_000

STALE_SIZE = "AnchorRegistryStaleTreeSize"
INCONSISTENT = "AnchorRegistryInconsistentHistory"


class CheckpointLike(Protocol):
    """What the publisher reads of a checkpoint (``ledger.storage.log.StoredCheckpoint``)."""

    @property
    def tree_size(self) -> int: ...

    @property
    def root(self) -> bytes: ...


class CheckpointSource(Protocol):
    """The log being anchored: ``ledger.storage.log.MerkleLog`` is one."""

    def latest_checkpoint(self) -> CheckpointLike | None: ...

    def consistency_proof(self, size1: int, size2: int) -> Sequence[bytes]: ...

    def root(self, size: int) -> bytes: ...


@dataclass(frozen=True)
class AnchorResult:
    """A checkpoint anchored by this call: the registry's ``index``-th anchor."""

    index: int
    tree_size: int
    root: bytes
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class AlreadyAnchored:
    """Nothing to do: the chain's latest anchor is at least the source's latest checkpoint.

    ``latest`` is the chain's latest anchor (None when nothing is anchored and the source
    has no checkpoint yet); ``checkpoint_size`` the source's latest checkpoint size (0: none).
    """

    latest: Anchor | None
    checkpoint_size: int


PublishOutcome = AnchorResult | AlreadyAnchored


class AnchorConflictError(ChainError):
    """The chain anchors another root for a size the local log also has a checkpoint for."""


class HistoryRewrittenError(ContractRevert):
    """The registry refused an anchor because the local log does not extend the anchored one.

    A ``ContractRevert`` (same ``error_name``, selector, args) whose message also says which
    roots disagree.
    """

    def __init__(self, revert: ContractRevert, detail: str) -> None:
        super().__init__(
            revert.error_name, revert.selector, tuple(revert.args), revert.data, revert.tx_hash
        )
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.detail} ({super().__str__()})"

    def __reduce__(self) -> tuple[Any, ...]:
        revert = ContractRevert(
            self.error_name, self.selector, tuple(self.args), self.data, self.tx_hash
        )
        return (self.__class__, (revert, self.detail))


@dataclass
class PublisherReport:
    """What ``run()`` did: anchors posted, rounds the chain was unreachable, why it stopped."""

    published: list[AnchorResult] = field(default_factory=list)
    rounds: int = 0
    outages: int = 0
    fatal: Exception | None = None


class AnchorPublisher:
    """Anchors ``source``'s checkpoints in ``registry`` (a web3 contract) as ``sender`` (the
    anchorer: an address the node signs for, or a ``LocalAccount`` that signs here).

    ``chain`` is the ``anchors.chain.Chain`` the registry lives on; by default one is made
    around the contract's own Web3. ``gas`` fixes the gas limit of every anchor transaction;
    by default it is ``ANCHOR_GAS_BASE + ANCHOR_GAS_PER_HASH * len(proof)``.
    """

    def __init__(
        self,
        registry: Any,
        sender: Sender,
        source: CheckpointSource,
        chain: Chain | None = None,
        gas: int | None = None,
    ) -> None:
        self.registry = registry
        self.gas = gas
        self.sender = sender
        self.source = source
        if chain is None:
            url = getattr(registry.w3.provider, "endpoint_uri", None)
            chain = Chain(registry.w3, None if url is None else str(url))
        self.chain = chain

    def publish_once(self) -> PublishOutcome:
        """Anchor the latest checkpoint if the chain does not have it (or a later one) yet."""
        checkpoint = self.source.latest_checkpoint()
        latest = fetch_latest_anchor(self.registry)
        if checkpoint is None:
            return AlreadyAnchored(latest, 0)
        size, root = int(checkpoint.tree_size), bytes(checkpoint.root)
        if latest is not None and latest.tree_size >= size:
            if latest.tree_size == size and latest.root != root:
                raise AnchorConflictError(
                    f"the chain anchors root {latest.root.hex()} for tree size {size}"
                    f" (anchor {latest.index}), but the local checkpoint has {root.hex()}:"
                    " the local log is not the anchored history"
                )
            if latest.tree_size > size:
                log.warning(
                    "the chain's latest anchor (size %d) is beyond the local log's latest"
                    " checkpoint (size %d): was the log restored from an older copy?",
                    latest.tree_size,
                    size,
                )
            return AlreadyAnchored(latest, size)
        from_size = 0 if latest is None else latest.tree_size
        proof = self._proof(from_size, size)
        try:
            gas = self.gas or ANCHOR_GAS_BASE + ANCHOR_GAS_PER_HASH * len(proof)
            receipt = self.chain.transact(
                self.registry.functions.anchor(size, root, proof), self.sender, gas=gas
            )
        except ContractRevert as exc:
            if exc.error_name == STALE_SIZE:
                # Someone (a previous run whose receipt we never saw, another publisher)
                # anchored first: read the chain again instead of guessing.
                now = fetch_latest_anchor(self.registry)
                if now is not None and now.tree_size >= size:
                    return AlreadyAnchored(now, size)
            if exc.error_name == INCONSISTENT and latest is not None:
                raise self._rewritten(exc, latest, size, root) from exc
            raise
        return self._result(receipt, size, root)

    def _proof(self, from_size: int, size: int) -> list[bytes]:
        if from_size == 0:
            return []
        try:
            return [bytes(h) for h in self.source.consistency_proof(from_size, size)]
        except LedgerError as exc:
            raise ChainError(
                f"cannot build the consistency proof from the anchored size {from_size}"
                f" to {size}: {exc}"
            ) from exc

    def _rewritten(
        self, exc: ContractRevert, latest: Anchor, size: int, root: bytes
    ) -> HistoryRewrittenError:
        try:
            local = self.source.root(latest.tree_size).hex()
        except LedgerError as err:
            local = f"unavailable ({err})"
        return HistoryRewrittenError(
            exc,
            f"the registry refused tree size {size} (root {root.hex()}): the chain's anchor"
            f" {latest.index} has root {latest.root.hex()} for size {latest.tree_size}, the"
            f" local log has root {local} there; the local history was rewritten after it"
            " was anchored",
        )

    def _result(self, receipt: Any, size: int, root: bytes) -> AnchorResult:
        events = self.registry.events.Anchored().process_receipt(receipt)
        if len(events) != 1:
            raise ChainError(
                f"anchor transaction {bytes(receipt['transactionHash']).hex()} emitted"
                f" {len(events)} Anchored events, want 1"
            )
        args = events[0]["args"]
        if int(args["treeSize"]) != size or bytes(args["root"]) != root:
            raise ChainError(
                f"anchor transaction anchored size {args['treeSize']} root"
                f" {bytes(args['root']).hex()}, want size {size} root {root.hex()}"
            )
        return AnchorResult(
            index=int(args["index"]),
            tree_size=size,
            root=root,
            tx_hash=bytes(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
        )

    def run(
        self,
        stop: threading.Event,
        interval: float = 1.0,
        max_rounds: int | None = None,
    ) -> PublisherReport:
        """Publish every ``interval`` seconds until ``stop`` is set (or ``max_rounds`` ran).

        An unreachable chain is logged and retried next round; a refused history
        (``HistoryRewrittenError``, ``AnchorConflictError``) or any other revert stops the
        loop and is returned in ``PublisherReport.fatal``.
        """
        report = PublisherReport()
        while not stop.is_set() and (max_rounds is None or report.rounds < max_rounds):
            report.rounds += 1
            try:
                outcome = self.publish_once()
            except (ContractRevert, AnchorConflictError) as exc:
                log.error("anchoring stopped: %s", exc)
                report.fatal = exc
                break
            except (ChainError, LedgerError) as exc:
                report.outages += 1
                log.warning("anchoring failed, will retry in %.1f s: %s", interval, exc)
            else:
                if isinstance(outcome, AnchorResult):
                    report.published.append(outcome)
                    log.info(
                        "anchored tree size %d as anchor %d in block %d",
                        outcome.tree_size,
                        outcome.index,
                        outcome.block_number,
                    )
            stop.wait(interval)
        return report
