"""The storage-backed Merkle log against the in-memory reference tree, on both backends."""

from __future__ import annotations

import random

import pytest

import ledger.storage.log as log_module
from ledger.errors import (
    ConflictError,
    IndexRangeError,
    MalformedInputError,
    NotFoundError,
    RootMismatchError,
    StorageError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_plan,
    hash_leaf,
    inclusion_plan,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from ledger.storage import Database
from ledger.storage._plans import fast_consistency_plan, fast_inclusion_plan
from ledger.storage.db import IN_LIST_CHUNK
from ledger.storage.log import LogEntry, MerkleLog, StoredEntry


def leaf_bytes(i: int) -> bytes:
    return f"leaf-{i}".encode() * (1 + i % 3)


def fill(log: MerkleLog, tree: MemoryTree, count: int, batch: int) -> None:
    start = tree.size
    for lo in range(start, start + count, batch):
        hi = min(lo + batch, start + count)
        indices = log.append_batch(
            [LogEntry(leaf_bytes(i), f"r{i}", b"rec%d" % i) for i in range(lo, hi)]
        )
        assert indices == list(range(lo, hi))
        for i in range(lo, hi):
            tree.append(leaf_bytes(i))


@pytest.fixture
def db(database_url: str):
    database = Database(database_url)
    yield database
    database.close()


def test_every_historic_size_matches_reference(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    assert log.size() == 0
    assert log.root() == EMPTY_ROOT
    # Uneven batch sizes so frontiers are carried across many transaction boundaries.
    sizes = [1, 2, 3, 1, 5, 8, 7, 13, 1, 16, 14]
    for n in sizes:
        fill(log, tree, n, n)
    total = tree.size
    assert total == sum(sizes) == 71
    assert log.size() == total
    with db.read() as tx:
        for size in range(total + 1):
            root = log.root(size, tx)
            assert root == tree.root(size)
            for index in range(size):
                path = log.inclusion_proof(index, size, tx)
                assert path == tree.inclusion_proof(index, size)
                verify_inclusion(index, size, log.leaf_hash(index, tx), path, root)
            for size1 in range(size + 1):
                proof = log.consistency_proof(size1, size, tx)
                assert proof == tree.consistency_proof(size1, size)
                verify_consistency(size1, size, proof, tree.root(size1), root)


def test_random_larger_sizes(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    rng = random.Random(7)
    fill(log, tree, 3000, 1000)
    fill(log, tree, 1234, 617)
    total = tree.size
    for _ in range(60):
        size = rng.randint(1, total)
        index = rng.randrange(size)
        size1 = rng.randint(0, size)
        root = log.root(size)
        assert root == tree.root(size)
        path = log.inclusion_proof(index, size)
        verify_inclusion(index, size, hash_leaf(leaf_bytes(index)), path, root)
        proof = log.consistency_proof(size1, size)
        verify_consistency(size1, size, proof, tree.root(size1), root)
    # A proof of the wrong leaf fails verification, so the checks above can fail.
    with pytest.raises(RootMismatchError):
        verify_inclusion(5, total, hash_leaf(b"other"), log.inclusion_proof(5, total), log.root())


def test_stored_nodes_are_a_node_reader(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 100, 40)
    for size in (1, 33, 64, 100):
        assert root_at(log, size) == tree.root(size)
    with pytest.raises(NotFoundError):
        log.read_nodes([(7, 0)])  # 128 leaves: not yet
    # Small reads and large ones (a trace bundle reads thousands at once) take different
    # statements on PostgreSQL; both return exactly what was asked.
    every = [(level, i) for level in range(7) for i in range(100 >> level)]
    for count in (1, 2, log_module.POSTGRES_POINTS_MAX, log_module.POSTGRES_POINTS_MAX + 1, 196):
        ids = random.Random(count).sample(every, count)
        assert log.read_nodes(ids) == tree.read_nodes(ids)
        with db.read() as tx:
            assert log.read_nodes(ids, tx) == tree.read_nodes(ids)


def test_entries_and_lookups(db: Database) -> None:
    log = MerkleLog(db)
    indices = log.append_batch(
        [LogEntry(b"a", "rec-a", b'{"a":1}'), LogEntry(b"b"), LogEntry(b"c", "rec-c")]
    )
    assert indices == [0, 1, 2]
    assert log.entry(0) == StoredEntry(0, b"a", hash_leaf(b"a"), "rec-a", b'{"a":1}')
    assert log.entry(1) == StoredEntry(1, b"b", hash_leaf(b"b"), None, None)
    assert log.leaf(2) == b"c"
    assert log.leaf_hash(2) == hash_leaf(b"c")
    assert log.index_of_record("rec-c") == 2
    assert [e.index for e in log.entries(1)] == [1, 2]
    assert [e.leaf for e in log.entries(0, 2)] == [b"a", b"b"]
    with pytest.raises(NotFoundError, match="no leaf at index 3: the log has 3 leaves"):
        log.entry(3)
    with pytest.raises(NotFoundError, match="no leaf at index 9"):
        log.leaf_hash(9)
    with pytest.raises(NotFoundError, match="rec-z"):
        log.index_of_record("rec-z")
    with pytest.raises(MalformedInputError):
        log.entry(-1)


def test_out_of_range_proofs_and_roots(db: Database) -> None:
    log = MerkleLog(db)
    log.append_batch([LogEntry(bytes([i])) for i in range(10)])
    with pytest.raises(IndexRangeError, match="tree size 11 is beyond the log's size 10"):
        log.root(11)
    with pytest.raises(IndexRangeError, match="tree size 11 is beyond the log's size 10"):
        log.inclusion_proof(10, 11)  # the plan's nodes exist, the leaf does not
    with pytest.raises(IndexRangeError, match="beyond tree size"):
        log.inclusion_proof(10, 10)
    with pytest.raises(IndexRangeError, match="beyond the log's size 10"):
        log.consistency_proof(10, 12)
    with pytest.raises(IndexRangeError, match="size1 7 is greater than size2 5"):
        log.consistency_proof(7, 5)
    with pytest.raises(MalformedInputError):
        log.root(-1)
    assert log.consistency_proof(0, 10) == []
    assert log.consistency_proof(10, 10) == []
    assert log.inclusion_proof(3) == log.inclusion_proof(3, 10)


def test_duplicate_record_id_writes_nothing(db: Database) -> None:
    log = MerkleLog(db)
    log.append_batch([LogEntry(b"x", "dup"), LogEntry(b"y", "other")])
    root, size = log.root(), log.size()
    with pytest.raises(ConflictError, match=r"record id 'dup' is already in the log at index 0"):
        log.append_batch([LogEntry(b"z", "fresh"), LogEntry(b"w", "dup")])
    with pytest.raises(ConflictError, match=r"record id 'twice' appears 2 times"):
        log.append_batch([LogEntry(b"z", "twice"), LogEntry(b"w", "twice")])
    assert (log.size(), log.root()) == (size, root)
    with pytest.raises(NotFoundError):
        log.index_of_record("fresh")
    # Inside a caller's transaction the caller may catch the conflict and carry on.
    with db.write() as tx:
        with pytest.raises(ConflictError):
            log.append(tx, [LogEntry(b"q", "new"), LogEntry(b"r", "dup")])
        assert log.append(tx, [LogEntry(b"q", "new")]) == [2]
    assert log.index_of_record("new") == 2
    tree = MemoryTree()
    for leaf in (b"x", b"y", b"q"):
        tree.append(leaf)
    assert log.root() == tree.root()


def test_malformed_entries_write_nothing(db: Database) -> None:
    log = MerkleLog(db)
    bad = [
        [LogEntry("text")],  # type: ignore[arg-type]
        [LogEntry(b"ok"), LogEntry(b"x", record_id="")],
        [LogEntry(b"ok"), LogEntry(b"x", record=bytearray(b"r"))],  # type: ignore[arg-type]
        [b"raw bytes"],
    ]
    for entries in bad:
        with pytest.raises(MalformedInputError):
            log.append_batch(entries)  # type: ignore[arg-type]
    assert log.size() == 0
    assert log.append_batch([]) == []


def test_rolled_back_append_leaves_no_trace(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 5, 5)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.write() as tx:
        assert log.append(tx, [LogEntry(b"gone-1"), LogEntry(b"gone-2")]) == [5, 6]
        assert log.size(tx) == 7
        raise Abort
    assert log.size() == 5
    # Another log object appends different leaves to the same size the rolled-back
    # transaction had reached: the first log must not reuse its uncommitted frontier.
    other = MerkleLog(db)
    other.append_batch([LogEntry(b"kept-1"), LogEntry(b"kept-2")])
    log.append_batch([LogEntry(b"after")])
    for leaf in (b"kept-1", b"kept-2", b"after"):
        tree.append(leaf)
    assert log.root() == tree.root()
    assert log.root() == root_at(log, 8)


def test_appends_within_one_transaction_and_reopen(db: Database, database_url: str) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    with db.write() as tx:
        for i in range(12):
            assert log.append(tx, [LogEntry(leaf_bytes(i))]) == [i]
            tree.append(leaf_bytes(i))
    fill(log, tree, 50, 9)
    root = log.root()
    reopened_db = Database(database_url)
    try:
        reopened = MerkleLog(reopened_db)
        assert reopened.size() == 62
        assert reopened.root() == root == tree.root()
    finally:
        reopened_db.close()


def test_two_databases_on_one_store_stay_consistent(db: Database, database_url: str) -> None:
    second_db = Database(database_url)
    try:
        first, second = MerkleLog(db), MerkleLog(second_db)
        tree = MemoryTree()
        rng = random.Random(3)
        for step in range(20):
            writer = first if rng.random() < 0.5 else second
            n = rng.randint(1, 9)
            base = tree.size
            entries = [LogEntry(leaf_bytes(base + k), f"id-{base + k}") for k in range(n)]
            assert writer.append_batch(entries) == list(range(base, base + n))
            for k in range(n):
                tree.append(leaf_bytes(base + k))
            reader = second if writer is first else first
            assert reader.size() == tree.size, step
            assert reader.root() == tree.root()
        size = tree.size
        proof = first.consistency_proof(10, size)
        verify_consistency(10, size, proof, second.root(10), second.root())
    finally:
        second_db.close()


def test_checkpoints(db: Database) -> None:
    log = MerkleLog(db)
    log.append_batch([LogEntry(bytes([i])) for i in range(20)])
    assert log.latest_checkpoint() is None
    with db.write() as tx:
        first = log.save_checkpoint(tx, 5, log.root(5, tx), "note-5", created_at="t1")
        log.save_checkpoint(tx, 20, log.root(20, tx), "note-20")
        log.save_checkpoint(tx, 12, log.root(12, tx), "note-12")
    assert first.tree_size == 5 and first.note == "note-5" and first.created_at == "t1"
    assert log.checkpoint(5) == first
    assert log.checkpoint(6) is None
    latest = log.latest_checkpoint()
    assert latest is not None and latest.tree_size == 20 and latest.root == log.root()
    assert [c.tree_size for c in log.checkpoints_after(5)] == [12, 20]
    assert log.checkpoints_after(20) == []
    # Saving again replaces the note (more cosignatures), keeps the first timestamp.
    with db.write() as tx:
        again = log.save_checkpoint(tx, 5, log.root(5, tx), "note-5 cosigned")
    assert again.note == "note-5 cosigned" and again.created_at == "t1"
    with pytest.raises(ConflictError, match="is not the log's root"), db.write() as tx:
        log.save_checkpoint(tx, 6, log.root(5, tx), "wrong")
    with pytest.raises(IndexRangeError), db.write() as tx:
        log.save_checkpoint(tx, 21, log.root(20, tx), "future")
    with pytest.raises(MalformedInputError), db.write() as tx:
        log.save_checkpoint(tx, 6, b"short", "bad root")
    assert [c.tree_size for c in log.checkpoints_after(0)] == [5, 12, 20]


def test_fast_plans_equal_reference_plans() -> None:
    for size in range(1, 260):
        for index in range(size):
            assert fast_inclusion_plan(index, size) == inclusion_plan(index, size)
        for size1 in range(size + 1):
            assert fast_consistency_plan(size1, size) == consistency_plan(size1, size)
    rng = random.Random(11)
    for _ in range(2000):
        size = rng.randint(1, 1 << 40)
        index, size1 = rng.randrange(size), rng.randint(0, size)
        assert fast_inclusion_plan(index, size) == inclusion_plan(index, size)
        assert fast_consistency_plan(size1, size) == consistency_plan(size1, size)
    for bad in ((5, 5), (-1, 3), (True, 3)):
        with pytest.raises((IndexRangeError, MalformedInputError)):
            fast_inclusion_plan(*bad)
    with pytest.raises(IndexRangeError):
        fast_consistency_plan(6, 5)


# --- the node cache ----------------------------------------------------------------------


def test_cached_proofs_equal_reference(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "CACHE_MIN_LEVEL", 2)
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 700, 350)
    rng = random.Random(11)
    calls = [(rng.randint(1, 700), rng.random()) for _ in range(120)]
    for rounds in range(2):  # the second round is served mostly from the cache
        for size, x in calls:
            index, size1 = int(x * size), int(x * (size + 1))
            assert log.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            assert log.consistency_proof(size1, size) == tree.consistency_proof(size1, size)
            assert log.root(size) == tree.root(size)
        assert log._cache, rounds  # the cache did fill
    with db.read() as tx:  # in a transaction the cache is used, the size still checked
        assert log.inclusion_proof(3, 700, tx) == tree.inclusion_proof(3, 700)
        with pytest.raises(IndexRangeError):
            log.inclusion_proof(3, 701, tx)
    with pytest.raises(IndexRangeError):
        log.consistency_proof(5, 701)


def test_rolled_back_append_leaves_no_cached_node(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "CACHE_MIN_LEVEL", 1)
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 40, 40)

    class Abort(Exception):
        pass

    gone = [LogEntry(b"gone-%d" % i) for i in range(40)]
    with pytest.raises(Abort), db.write() as tx:
        log.append(tx, gone)
        # Reads inside the write transaction, with and without passing it, see the
        # uncommitted nodes; none of them may be cached.
        for i in range(0, 80, 3):
            log.inclusion_proof(i, 80)
            log.inclusion_proof(i, 80, tx)
        log.consistency_proof(40, 80)
        log.root(80)
        raise Abort
    assert not any(index >= 40 >> level for level, index in log._cache)
    assert all(size <= 40 for _, size in log._edges)  # no right edge of an uncommitted tree
    fill(log, tree, 40, 40)  # different leaves at the same indices, committed
    for i in range(80):
        assert log.inclusion_proof(i, 80) == tree.inclusion_proof(i, 80), i
    for size1 in range(81):
        assert log.consistency_proof(size1, 80) == tree.consistency_proof(size1, 80)
    assert log.root(80) == tree.root(80)


def test_two_logs_on_one_database_with_caches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "CACHE_MIN_LEVEL", 1)
    writer, reader, tree = MerkleLog(db), MerkleLog(db), MemoryTree()
    fill(writer, tree, 33, 33)
    rng = random.Random(5)
    for step in range(12):
        size = tree.size
        for _ in range(15):
            index = rng.randrange(size)
            assert reader.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            size1 = rng.randint(0, size)
            assert reader.consistency_proof(size1, size) == tree.consistency_proof(size1, size)
        # The writer grows the log the reader has cached; the reader's known size is
        # stale, so a proof of a larger tree must ask the database.
        with pytest.raises(IndexRangeError):
            reader.inclusion_proof(0, size + 1)
        fill(writer, tree, rng.randint(1, 20), 7)
        grown = tree.size
        assert reader.inclusion_proof(size - 1, grown) == tree.inclusion_proof(size - 1, grown)
        assert reader.consistency_proof(size, grown) == tree.consistency_proof(size, grown)
        assert reader.inclusion_proof(grown - 1) == tree.inclusion_proof(grown - 1, grown), step
        assert reader.root() == tree.root()


def test_hot_reads_agree_with_query(db: Database) -> None:
    """``first_row``/``hot_query`` (a kept cursor, binary on PostgreSQL) return what
    ``query`` does, blobs as bytes, inside and outside transactions."""
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 40, 40)
    sql = "SELECT leaf_index, leaf_hash, record_id FROM log_entries WHERE leaf_index < ?"
    t = db.reader()  # statements on their own, as the log reads
    rows = t.query(sql + " ORDER BY leaf_index", (5,))
    assert [tuple(r) for r in t.hot_query(sql + " ORDER BY leaf_index", (5,))] == rows
    assert tuple(t.first_row(sql + " ORDER BY leaf_index", (5,))) == rows[0]
    assert t.first_row(sql, (0,)) is None
    assert all(type(r[1]) is bytes and r[1] == tree.leaf_hash(r[0]) for r in rows)
    with db.read() as tx:
        (tile,) = tx.first_row("SELECT hashes FROM log_tiles WHERE tile = ?", (0,))
        assert type(tile) is bytes and tile[:32] == tree.leaf_hash(0)
    with pytest.raises(StorageError):
        t.first_row("SELECT no_such_column FROM log_entries")


def test_a_corrupt_stored_tile_is_refused(db: Database) -> None:
    """A tile row of the wrong length is a StorageError naming it, whether the proof reads
    the tile alone or with upper nodes in the same statement; never a wrong proof."""
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, 64, 64)
    with db.write() as tx:
        tx.execute("UPDATE log_tiles SET hashes = ? WHERE tile = ?", (b"\x00\x01\x02", 0))
    fresh = MerkleLog(db)  # no cached nodes: every read goes to the stored tile
    for size in (32, 64):  # the tile alone; the tile and the right half's root
        with pytest.raises(StorageError, match="stored tile 0 has 3 bytes, want"):
            fresh.inclusion_proof(3, size)
    assert fresh.inclusion_proof(40, 64) == tree.inclusion_proof(40, 64)  # tile 1 is intact


def test_entries_at_reads_any_set_of_indices_in_bounded_statements(db: Database) -> None:
    """``entries_at`` answers more indices than one IN list holds (IN_LIST_CHUNK), in any
    order and with repeats; indices past the log are simply absent."""
    log, tree = MerkleLog(db), MemoryTree()
    count = IN_LIST_CHUNK + 37
    fill(log, tree, count, 200)
    wanted = [count + 5, *range(count - 1, -1, -1), 3, 3]
    found = log.entries_at(wanted)
    assert sorted(found) == list(range(count))
    for index in (0, IN_LIST_CHUNK - 1, IN_LIST_CHUNK, count - 1):
        assert found[index] == log.entry(index)
    assert log.entries_at([]) == {}
    with pytest.raises(MalformedInputError):
        log.entries_at([1, -1])


def test_query_in_binds_leading_params_in_every_chunk(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, IN_LIST_CHUNK + 10, 500)
    with db.read() as tx:
        rows = tx.query_in(
            "SELECT leaf_index FROM log_entries WHERE leaf_index >= ? AND leaf_index IN ({in})",
            list(range(IN_LIST_CHUNK + 10)),
            (5,),
        )
        assert sorted(r[0] for r in rows) == list(range(5, IN_LIST_CHUNK + 10))
        assert (
            tx.query_in("SELECT leaf_index FROM log_entries WHERE leaf_index IN ({in})", []) == []
        )
