"""A writer the crash test kills with SIGKILL: appends batches, acknowledging each commit.

Usage: python tests/crash_writer.py DATABASE_URL RUN BATCH_SIZE

Each batch is appended in its own write transaction; only after the commit returns does the
writer print ``ack RUN BATCH FIRST_INDEX LAST_INDEX`` and flush, so every acknowledged line
names entries the database promised to keep. Entry contents are a pure function of
(run, batch, position), so the test can check them byte for byte.
"""

from __future__ import annotations

import sys

from ledger.storage import Database, LogEntry, MerkleLog


def entry_for(run: int, batch: int, position: int) -> LogEntry:
    name = f"run{run}-batch{batch}-pos{position}"
    record = (name.encode() + b"|") * 40  # about 1 KB, like a signed record
    return LogEntry(leaf=name.encode().rjust(288, b"\x00"), record_id=name, record=record)


def main() -> None:
    url, run, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = Database(url)
    log = MerkleLog(db)
    batch = 0
    while batch < 100_000:  # bounded; the test kills it long before
        indices = log.append_batch([entry_for(run, batch, k) for k in range(batch_size)])
        sys.stdout.write(f"ack {run} {batch} {indices[0]} {indices[-1]}\n")
        sys.stdout.flush()
        batch += 1


if __name__ == "__main__":
    main()
