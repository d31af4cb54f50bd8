"""The sequencer: signs a checkpoint of new leaves, soon after they are appended.

``checkpoint_now()`` signs and stores a checkpoint for the log's current size if it has
grown since the last one (under the database write lock, so two workers cannot sign two
different heads for one size). A background thread calls it every ``interval`` seconds and
at once when ``notify()`` says that leaves were appended; so a checkpoint follows an append
within ``interval`` (default 0.2 s, target <= 1 s). The same thread publishes anchors every
``anchor_interval`` seconds when a chain is configured, and enrols participants' EVM
accounts in the escrow contract as their enrolments land.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.errors import LedgerError
from ledger.storage.log import MerkleLog, StoredCheckpoint

log = logging.getLogger("lotproof.api.sequencer")


class Sequencer:
    def __init__(
        self,
        merkle_log: MerkleLog,
        signer: NoteSigner,
        origin: str,
        *,
        interval: float = 0.2,
        anchor: Callable[[], Any] | None = None,
        anchor_interval: float = 5.0,
        after_checkpoint: Callable[[StoredCheckpoint], None] | None = None,
    ) -> None:
        self.log = merkle_log
        self.signer = signer
        self.origin = origin
        self.interval = interval
        self.anchor = anchor
        self.anchor_interval = anchor_interval
        self.after_checkpoint = after_checkpoint
        self.coalesce = 0.05
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.anchor_error: str | None = None

    def checkpoint_now(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the current log if it grew; return the latest."""
        with self._lock:
            db = self.log.db
            with db.write() as tx:
                size = self.log.size(tx)
                latest = self.log.latest_checkpoint(tx)
                if latest is not None and latest.tree_size >= size:
                    return latest
                root = self.log.root(size, tx)
                note = sign_checkpoint(Checkpoint(self.origin, size, root), [self.signer])
                stored = self.log.save_checkpoint(tx, size, root, note)
        if self.after_checkpoint is not None:
            self.after_checkpoint(stored)
        return stored

    def notify(self) -> None:
        """Leaves were appended: checkpoint soon."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lotproof-sequencer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        next_anchor = time.monotonic() + min(1.0, self.anchor_interval)
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval)
            if woken and not self._stop.is_set():
                # Let a burst of appends land, so one checkpoint covers them all.
                self._stop.wait(min(self.coalesce, self.interval))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.checkpoint_now()
                self.last_error = None
            except LedgerError as exc:  # storage hiccup: log, retry next round
                self.last_error = str(exc)
                log.warning("checkpointing failed: %s", exc)
            if self.anchor is not None and time.monotonic() >= next_anchor:
                next_anchor = time.monotonic() + self.anchor_interval
                try:
                    self.anchor()
                    self.anchor_error = None
                except Exception as exc:  # the chain is optional; never kill the sequencer
                    self.anchor_error = f"{type(exc).__name__}: {exc}"
                    log.warning("anchoring failed: %s", exc)
