"""Checking a checkpoint against the chain's anchors.

``check_checkpoint_against_anchor`` is pure (values in, ``None`` or a
``ledger.errors.VerificationError`` out): it is what the auditor's ``--rpc`` check and the
monitor run once they hold an anchored ``(size, root)`` and a consistency proof between it
and the checkpoint they were shown. ``fetch_anchor``, ``fetch_anchor_at`` and
``fetch_latest_anchor`` read an anchor from an ``AnchorRegistry`` contract; chain failures
surface as ``anchors.errors.ChainError``.

The registry keeps each anchored root in storage, keyed by tree size, and the latest anchor's
index; an anchor's index is otherwise a topic of its ``Anchored`` event (a table of sizes by
index in storage would cost some anchor a second new slot). So a lookup by index reads the
event with that index topic, and every lookup that reads an event checks the event's root
against the root the contract holds for that size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
from web3.exceptions import ContractLogicError

from anchors.chain import as_contract_revert
from anchors.errors import ChainConnectionError, ChainError, ContractRevert
from ledger.errors import (
    IndexRangeError,
    MalformedInputError,
    NotFoundError,
    VerificationError,
)
from ledger.merkle import check_hash, verify_consistency

ZERO_ROOT = bytes(32)


@dataclass(frozen=True)
class Anchor:
    """An anchored tree head: the registry's ``index``-th anchor, of ``tree_size`` leaves."""

    index: int
    tree_size: int
    root: bytes


class AnchorMismatchError(VerificationError):
    """A checkpoint that is not the anchored tree head, nor consistent with it."""

    def __init__(
        self, size: int, root: bytes, anchored_size: int, anchored_root: bytes, why: str
    ) -> None:
        super().__init__(
            f"checkpoint (size {size}, root {root.hex()}) is not consistent with the anchor "
            f"(size {anchored_size}, root {anchored_root.hex()}) on chain: {why}"
        )
        self.size = size
        self.root = root
        self.anchored_size = anchored_size
        self.anchored_root = anchored_root


class AnchorNotFoundError(NotFoundError):
    """No anchor on chain for the tree size asked for."""


def _check_size(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(f"{what} must be an integer, got {type(value).__name__}")
    if not 0 <= value < 2**64:
        raise MalformedInputError(f"{what} must be in [0, 2**64), got {value}")


def check_checkpoint_against_anchor(
    size: int,
    root: bytes,
    anchored_size: int,
    anchored_root: bytes,
    consistency_path: Sequence[bytes],
) -> None:
    """Raise unless the checkpoint ``(size, root)`` and the anchor describe one history.

    - ``size == anchored_size``: the roots must be equal and the path empty;
    - ``size > anchored_size``: the path proves the checkpoint extends the anchor;
    - ``size < anchored_size``: the path proves the anchor extends the checkpoint.

    Malformed values raise ``MalformedInputError``; a failed check raises
    ``AnchorMismatchError`` (a ``VerificationError``) naming both tree heads.
    """
    _check_size(size, "checkpoint size")
    _check_size(anchored_size, "anchored size")
    check_hash(root, "checkpoint root")
    check_hash(anchored_root, "anchored root")
    if anchored_size == 0:
        raise MalformedInputError("an anchor has at least one leaf, got anchored size 0")
    try:
        if size >= anchored_size:
            verify_consistency(anchored_size, size, consistency_path, anchored_root, root)
        else:
            verify_consistency(size, anchored_size, consistency_path, root, anchored_root)
    except MalformedInputError:
        raise
    except VerificationError as exc:
        raise AnchorMismatchError(size, root, anchored_size, anchored_root, str(exc)) from exc


def call_view(fn: Any, what: str) -> Any:
    """Run a bound contract view; a revert becomes ``ContractRevert``, anything else
    (node unreachable, bad answer) ``ChainConnectionError``."""
    try:
        return fn.call()
    except ChainError:
        raise
    except (ContractLogicError, TransactionFailed) as exc:
        raise as_contract_revert(exc) from exc
    except Exception as exc:  # HTTP, JSON-RPC and decoding failures alike
        raise ChainConnectionError(f"cannot read {what} from the chain: {exc}") from exc


def _anchored_events(registry: Any, what: str, **topics: int) -> list[Any]:
    """The registry's ``Anchored`` events whose indexed arguments equal ``topics``."""
    try:
        return list(registry.events.Anchored().get_logs(argument_filters=topics, from_block=0))
    except Exception as exc:  # HTTP, JSON-RPC and decoding failures alike
        raise ChainConnectionError(f"cannot read {what} from the chain: {exc}") from exc


def _one_event(registry: Any, what: str, **topics: int) -> Any:
    events = _anchored_events(registry, what, **topics)
    if len(events) != 1:
        raise ChainError(
            f"registry {registry.address} has {len(events)} Anchored events for {what}, want 1"
        )
    return events[0]["args"]


def _stored_root(registry: Any, size: int) -> bytes:
    return bytes(call_view(registry.functions.rootForSize(size), f"the root anchored for {size}"))


def _checked_anchor(registry: Any, event: Any, root: bytes | None = None) -> Anchor:
    """The anchor an ``Anchored`` event describes, once its root is the one the contract
    holds in storage for its size (``root``, when already read; a node serving a forged log
    is caught here)."""
    size = int(event["treeSize"])
    if root is None:
        root = _stored_root(registry, size)
    if bytes(event["root"]) != root:
        raise ChainError(
            f"registry {registry.address}: the Anchored event of index {event['index']} has"
            f" root {bytes(event['root']).hex()}, its storage for size {size} {root.hex()}"
        )
    return Anchor(index=int(event["index"]), tree_size=size, root=root)


def fetch_anchor(registry: Any, size: int) -> Anchor:
    """The anchor of ``size`` leaves in ``registry`` (a web3 AnchorRegistry contract).

    The root is the contract's; the index is the topic of that size's ``Anchored`` event.
    Raises ``AnchorNotFoundError`` when that size was never anchored, ``ChainError`` when the
    chain cannot be read or its event disagrees with its storage.
    """
    _check_size(size, "tree size")
    root = _stored_root(registry, size)
    if root == ZERO_ROOT:
        raise AnchorNotFoundError(
            f"tree size {size} is not anchored in registry {registry.address}"
        )
    event = _one_event(registry, f"tree size {size}", treeSize=size)
    return _checked_anchor(registry, event, root)


def fetch_latest_anchor(registry: Any) -> Anchor | None:
    """The registry's latest anchor, or None when nothing was anchored yet."""
    try:
        index, tree_size, root = call_view(registry.functions.latestAnchor(), "the latest anchor")
    except ContractRevert as exc:
        if exc.error_name == "AnchorRegistryNoAnchor":
            return None
        raise
    return Anchor(index=int(index), tree_size=int(tree_size), root=bytes(root))


def fetch_anchor_at(registry: Any, index: int) -> Anchor:
    """The registry's ``index``-th anchor (0-based), from its ``Anchored`` event."""
    _check_size(index, "anchor index")
    count = int(call_view(registry.functions.anchorCount(), "the anchor count"))
    if index >= count:
        raise IndexRangeError(f"anchor index {index} is beyond the {count} anchors on chain")
    return _checked_anchor(registry, _one_event(registry, f"anchor index {index}", index=index))
