"""Persistence: the database seam (SQLite, PostgreSQL) and what is stored through it."""

from ledger.storage.db import Database, IntegrityViolation, Transaction, open_database

__all__ = ["Database", "IntegrityViolation", "Transaction", "open_database"]
