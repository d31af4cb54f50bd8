"""Persistence: the database seam (SQLite, PostgreSQL) and what is stored through it."""

from ledger.storage.db import Database, IntegrityViolation, Transaction, open_database
from ledger.storage.log import LogEntry, MerkleLog, StoredCheckpoint, StoredEntry

__all__ = [
    "Database",
    "IntegrityViolation",
    "LogEntry",
    "MerkleLog",
    "StoredCheckpoint",
    "StoredEntry",
    "Transaction",
    "open_database",
]
