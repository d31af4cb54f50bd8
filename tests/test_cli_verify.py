"""The auditor's CLI: ``lotproof verify ...`` and ``lotproof keys note-keygen``.

Runs ``scripts.cli.main`` in process (with capsys) over every vector in tests/vectors and
over real checkpoints, and ``.venv/bin/lotproof`` as a real subprocess for the exit codes
and a garbage-file loop that must never print a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.merkle import MemoryTree
from ledger.proofs import ConsistencyProof, InclusionProof
from scripts import gen_vectors
from scripts.cli import build_parser, main

VECTORS = Path(__file__).parent / "vectors"
VECTOR_FILES = sorted(p.relative_to(VECTORS).as_posix() for p in VECTORS.rglob("*.json"))
LOTPROOF = Path(sys.executable).parent / "lotproof"

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n15368405\n/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=\n\n"
    "— sum.golang.org Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295Ejwd"
    "Swlzgijq5WA9d1Ded7owM=\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write_vector_input(vector: dict[str, Any], dest: Path) -> Path:
    if "proof" in vector:
        dest.write_text(json.dumps(vector["proof"]), encoding="utf-8")
    else:
        dest.write_text(vector["proof_text"], encoding="utf-8")
    return dest


# --- the vectors ----------------------------------------------------------------------------


def test_there_are_vectors_of_every_kind() -> None:
    assert len(VECTOR_FILES) > 200
    names = {Path(f).name for f in VECTOR_FILES}
    for name in ["wrong-leaf.json", "modified-proof[0]-bit-@3.json", "trailing-garbage.json"]:
        assert name in names
    outcomes = {json.loads((VECTORS / f).read_text())["want_exit"] for f in VECTOR_FILES}
    assert outcomes == {0, 1, 2}


def test_regenerating_the_vectors_gives_the_same_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_vectors.existing(VECTORS) == gen_vectors.generate()
    assert gen_vectors.main(["--check", "--out", str(VECTORS)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_the_generator_check_notices_a_changed_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen_vectors.main(["--out", str(tmp_path)]) == 0
    victim = tmp_path / "inclusion" / "leaf-5-of-8" / "wrong-leaf.json"
    victim.write_text(victim.read_text().replace("RootMismatchError", "None"))
    assert gen_vectors.main(["--check", "--out", str(tmp_path)]) == 1
    (tmp_path / "inclusion" / "stale.json").write_text("{}")
    assert gen_vectors.main(["--out", str(tmp_path)]) == 0
    assert not (tmp_path / "inclusion" / "stale.json").exists()
    assert gen_vectors.existing(tmp_path) == gen_vectors.generate()
    capsys.readouterr()


@pytest.mark.parametrize("rel", VECTOR_FILES)
def test_vector(rel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vector = json.loads((VECTORS / rel).read_text(encoding="utf-8"))
    assert set(vector) >= {"desc", "kind", "want_error", "want_exit"}
    kind, want_error, want_exit = vector["kind"], vector["want_error"], vector["want_exit"]
    parse = InclusionProof if kind == "inclusion" else ConsistencyProof
    source = write_vector_input(vector, tmp_path / "proof.json")

    # In process, through the library: exactly the named error, or none.
    try:
        parse.from_json(source.read_bytes()).verify()
        got = None
    except Exception as e:
        got = type(e).__name__
    assert got == want_error, vector["desc"]

    # Through the CLI: the exit code and the one line.
    code, out, _ = run(capsys, "verify", kind, str(source))
    assert code == want_exit, out
    word = {0: "OK", 1: "FAIL", 2: "ERROR"}[want_exit]
    assert out.startswith(f"{word} {source}"), out
    assert out.count("\n") == 1


# --- several files, exit codes, unreadable inputs -------------------------------------------


@pytest.fixture
def proofs(tmp_path: Path) -> dict[str, Path]:
    tree = MemoryTree()
    for i in range(10):
        tree.append(f"r{i}".encode())
    good = InclusionProof.build(tree, 3, 10)
    bad = InclusionProof(3, 10, tree.leaf_hash(4), good.root_hash, good.path)
    files = {
        "good": good.to_json(),
        "good2": InclusionProof.build(tree, 9, 10).to_json(),
        "bad": bad.to_json(),
        "malformed": b'{"leaf_index": 1}',
        "cons": ConsistencyProof.build(tree, 4, 10).to_json(),
    }
    out = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        out[name] = path
    return out


def test_all_ok_exits_0(capsys: pytest.CaptureFixture[str], proofs: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "verify", "inclusion", str(proofs["good"]), str(proofs["good2"]))
    assert code == 0
    assert out.splitlines() == [f"OK {proofs['good']}", f"OK {proofs['good2']}"]
    code, out, _ = run(capsys, "verify", "consistency", str(proofs["cons"]))
    assert (code, out) == (0, f"OK {proofs['cons']}\n")


def test_any_fail_exits_1(capsys: pytest.CaptureFixture[str], proofs: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "verify", "inclusion", str(proofs["good"]), str(proofs["bad"]))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"OK {proofs['good']}"
    assert lines[1].startswith(f"FAIL {proofs['bad']}: root mismatch: calculated ")


def test_any_error_exits_2(
    capsys: pytest.CaptureFixture[str], proofs: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    args = [str(proofs["bad"]), str(proofs["malformed"]), str(missing), str(tmp_path)]
    code, out, _ = run(capsys, "verify", "inclusion", *args)
    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith("FAIL ")
    assert lines[1] == f"ERROR {proofs['malformed']}: inclusion proof is missing tree_size, " + (
        "leaf_hash, root_hash, path"
    )
    assert lines[2] == f"ERROR {missing}: cannot read: No such file or directory"
    assert lines[3].startswith(f"ERROR {tmp_path}: cannot read: ")


def test_a_consistency_file_for_inclusion_is_an_error_that_says_why(
    capsys: pytest.CaptureFixture[str], proofs: dict[str, Path]
) -> None:
    code, out, _ = run(capsys, "verify", "inclusion", str(proofs["cons"]))
    assert code == 2 and "looks like a consistency proof" in out


def test_stdin_is_read_for_a_dash(proofs: dict[str, Path]) -> None:
    result = subprocess.run(
        [str(LOTPROOF), "verify", "inclusion", "-"],
        input=proofs["good"].read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, b"OK -\n")


def test_odd_file_names_stay_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["two\nlines.json", "tab\there.json", os.fsdecode(b"bad-\xff-utf8.json"), "药品.json"]
    for name in names:
        (tmp_path / name).write_bytes(b"[]")
    code, out, _ = run(capsys, "verify", "inclusion", *(str(tmp_path / n) for n in names))
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 4 and all(line.startswith("ERROR ") for line in lines)
    assert "two\\nlines.json" in lines[0] and "tab\\there.json" in lines[1]
    assert "bad-\\udcff-utf8.json" in lines[2] and "药品.json" in lines[3]


def test_a_huge_file_is_refused_without_reading_it_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB of zeros
    code, out, _ = run(capsys, "verify", "consistency", str(big))
    assert code == 2 and "larger than 1048576 bytes" in out


# --- checkpoints ----------------------------------------------------------------------------


@pytest.fixture
def keypair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    code, out, _ = run(
        capsys, "keys", "note-keygen", "lotproof.example/log", "--out-dir", str(tmp_path / "keys")
    )
    assert code == 0
    skey, vkey = (
        tmp_path / "keys" / "lotproof.example_log.skey",
        tmp_path / "keys" / "lotproof.example_log.vkey",
    )
    assert out.splitlines()[-1] == vkey.read_text().strip()
    return skey, vkey


def _signed_checkpoint(
    skey: Path, tmp_path: Path, origin: str = "lotproof.example/log"
) -> tuple[Path, Checkpoint]:
    tree = MemoryTree()
    for i in range(13):
        tree.append(f"leaf {i}".encode())
    cp = Checkpoint(origin, tree.size, tree.root())
    note = sign_checkpoint(cp, [NoteSigner.from_string(skey.read_text())])
    path = tmp_path / "checkpoint.txt"
    path.write_text(note, encoding="utf-8")
    return path, cp


def test_note_keygen_writes_a_private_signer_and_a_public_verifier(
    keypair: tuple[Path, Path],
) -> None:
    skey, vkey = keypair
    assert stat.S_IMODE(skey.stat().st_mode) == 0o600
    signer = NoteSigner.from_string(skey.read_text())
    assert signer.verifier().to_string() == vkey.read_text().strip()
    assert signer.name == "lotproof.example/log"


def test_note_keygen_refuses_to_overwrite_without_force(
    keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    skey, _ = keypair
    before = skey.read_text()
    code, _, err = run(
        capsys, "keys", "note-keygen", "lotproof.example/log", "--out-dir", str(skey.parent)
    )
    assert code == 2 and "exists; use --force" in err
    assert skey.read_text() == before
    code, _, _ = run(
        capsys,
        "keys",
        "note-keygen",
        "lotproof.example/log",
        "--out-dir",
        str(skey.parent),
        "--force",
    )
    assert code == 0 and skey.read_text() != before
    assert stat.S_IMODE(skey.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "has space", "a+b"])
def test_note_keygen_refuses_bad_names(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "keys", "note-keygen", name, "--out-dir", str(tmp_path))
    assert code == 2 and err.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_verifies_with_key_string_and_key_file(
    keypair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skey, vkey = keypair
    path, cp = _signed_checkpoint(skey, tmp_path)
    vkey_text = vkey.read_text().strip()
    for key_args in (["--key", vkey_text], ["--key-file", str(vkey)]):
        code, out, _ = run(
            capsys, "verify", "checkpoint", str(path), *key_args, "--origin", cp.origin
        )
        assert code == 0
        key_id = "+".join(vkey_text.split("+", 2)[:2])  # base64 may hold a +
        assert out.splitlines() == [
            f"OK {path}",
            "origin: lotproof.example/log",
            "tree size: 13",
            f"root hash: {cp.root.hex()}",
            f"verified by: {key_id}",
        ]


def test_checkpoint_with_only_an_untrusted_signature_fails(
    keypair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skey, _ = keypair
    path, _ = _signed_checkpoint(skey, tmp_path)
    other = NoteSigner.generate("lotproof.example/log").verifier().to_string()
    code, out, _ = run(capsys, "verify", "checkpoint", str(path), "--key", other)
    assert code == 1 and out.startswith(f"FAIL {path}: note has no signature by a trusted key")


def test_checkpoint_tampered_or_from_another_origin_fails(
    keypair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skey, vkey = keypair
    path, _ = _signed_checkpoint(skey, tmp_path)
    code, out, _ = run(
        capsys, "verify", "checkpoint", str(path), "--key-file", str(vkey), "--origin", "x"
    )
    assert code == 1 and "origin is 'lotproof.example/log', want 'x'" in out
    path.write_text(path.read_text().replace("\n13\n", "\n14\n"))
    code, out, _ = run(capsys, "verify", "checkpoint", str(path), "--key-file", str(vkey))
    assert code == 1 and "does not verify" in out


def test_a_malformed_checkpoint_file_is_an_error(
    keypair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, vkey = keypair
    bad = tmp_path / "bad.txt"
    for content in [
        b"",
        b"\xff\xfe",
        b"origin\n1\nAAAA\n",
        b"a\r\n\r\n\xe2\x80\x94 k AAAAAAA=\r\n",
    ]:
        bad.write_bytes(content)
        code, out, _ = run(capsys, "verify", "checkpoint", str(bad), "--key-file", str(vkey))
        assert code == 2 and out.startswith(f"ERROR {bad}: "), out
    code, out, _ = run(
        capsys, "verify", "checkpoint", str(tmp_path / "nope"), "--key-file", str(vkey)
    )
    assert code == 2 and "cannot read" in out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--key", "not a key"], "--key #1"),
        (["--key", SUMDB_VKEY, "--key", SUMDB_VKEY[:-1] + "9"], "--key #2"),
        (["--key-file", "/nonexistent/key"], "cannot read"),
        ([], "at least one trusted key"),
    ],
)
def test_bad_or_missing_keys_are_errors(
    args: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = tmp_path / "n.txt"
    note.write_text(SUMDB_NOTE, encoding="utf-8")
    code, out, err = run(capsys, "verify", "checkpoint", str(note), *args)
    assert code == 2 and out == "" and reason in err


def test_the_real_sum_golang_org_checkpoint_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = tmp_path / "sumdb.txt"
    note.write_text(SUMDB_NOTE, encoding="utf-8")
    code, out, _ = run(
        capsys,
        "verify",
        "checkpoint",
        str(note),
        "--key",
        SUMDB_VKEY,
        "--origin",
        "go.sum database tree",
    )
    assert code == 0
    assert "tree size: 15368405" in out and "verified by: sum.golang.org+033de0ae" in out


# --- usage, help, and the last resort --------------------------------------------------------


def _all_command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.extend(_all_command_paths(sub, (*prefix, name)))
    return paths


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    paths = _all_command_paths(build_parser())
    for want in [
        ("verify", "inclusion"),
        ("verify", "consistency"),
        ("verify", "checkpoint"),
        ("keys", "note-keygen"),
    ]:
        assert want in paths
    for path in paths:
        code, out, _ = run(capsys, *path, "--help")
        assert code == 0 and out.startswith("usage: lotproof"), path


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["verify"],
        ["verify", "inclusion"],
        ["verify", "checkpoint"],
        ["keys"],
        ["--nope"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err


def test_the_last_resort_handler_turns_any_exception_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def register(subparsers: Any) -> None:
        boom = subparsers.add_parser("boom")
        boom.set_defaults(handler=lambda args: 1 / 0)

    code = main(["boom"], registrars=[register])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == "error: ZeroDivisionError: division by zero\n"


# --- real subprocesses: exit codes and a garbage loop -----------------------------------------


def test_the_installed_entry_point_returns_the_exit_codes(proofs: dict[str, Path]) -> None:
    for files, want in [(["good"], 0), (["good", "bad"], 1), (["bad", "malformed"], 2)]:
        result = subprocess.run(
            [str(LOTPROOF), "verify", "inclusion", *(str(proofs[f]) for f in files)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == want, result
        assert len(result.stdout.splitlines()) == len(files)
        assert "Traceback" not in result.stderr


def _garbage(rng: random.Random, good: bytes) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.randbytes(rng.randrange(0, 400))
    if choice == 1:  # a good file with some bytes changed
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:  # truncated
        return good[: rng.randrange(len(good))]
    if choice == 3:  # random JSON-ish tokens
        tokens = [
            "{",
            "}",
            "[",
            "]",
            '"path"',
            '"leaf_index"',
            ":",
            ",",
            "1",
            "-1",
            "1.5",
            "true",
            "null",
            '"ab"',
        ]
        return "".join(rng.choice(tokens) for _ in range(rng.randrange(1, 30))).encode()
    if choice == 4:  # a good file with a field swapped for another type
        value = json.loads(good)
        key = rng.choice(list(value))
        value[key] = rng.choice([None, True, [], {}, "x", -5, 2**70, [1, 2], ["zz"]])
        return json.dumps(value).encode()
    return good.replace(b'"', b"'")


def test_garbage_files_never_produce_a_traceback(
    tmp_path: Path, proofs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261123)
    good = {"inclusion": proofs["good"].read_bytes(), "consistency": proofs["cons"].read_bytes()}
    files: dict[str, list[str]] = {"inclusion": [], "consistency": []}
    for i in range(300):
        kind = "inclusion" if i % 2 else "consistency"
        path = tmp_path / f"garbage-{i}.json"
        path.write_bytes(_garbage(rng, good[kind]))
        files[kind].append(str(path))
        code, out, _ = run(capsys, "verify", kind, str(path))
        assert code in (0, 1, 2)
        assert out.split(" ", 1)[0] in ("OK", "FAIL", "ERROR") and out.count("\n") == 1
    # One real process over all of them: one line per file, no traceback.
    for kind, names in files.items():
        result = subprocess.run(
            [str(LOTPROOF), "verify", kind, *names],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode in (1, 2)
        assert len(result.stdout.splitlines()) == len(names)
        assert "Traceback" not in result.stdout + result.stderr
    # And garbage checkpoints.
    signer = NoteSigner.generate("g")
    note = sign_checkpoint(Checkpoint("g", 1, bytes(32)), [signer]).encode()
    for i in range(100):
        path = tmp_path / f"cp-{i}.txt"
        path.write_bytes(_garbage_note(rng, note))
        code, out, _ = run(
            capsys, "verify", "checkpoint", str(path), "--key", signer.verifier().to_string()
        )
        assert code in (1, 2) and out.split(" ", 1)[0] in ("FAIL", "ERROR")


def _garbage_note(rng: random.Random, note: bytes) -> bytes:
    data = bytearray(note)
    if rng.random() < 0.3:
        return rng.randbytes(rng.randrange(200))
    for _ in range(rng.randrange(1, 4)):
        pos = rng.randrange(len(data))
        data[pos] = (data[pos] + rng.randrange(1, 256)) % 256  # surely a change
    return bytes(data)


# --- proofs bound to signed checkpoints ---------------------------------------------------------


@pytest.fixture
def bound(tmp_path: Path) -> dict[str, Any]:
    signer = NoteSigner.generate("lotproof.example/log")
    tree = MemoryTree()
    for i in range(13):
        tree.append(f"leaf {i}".encode())
    fork = MemoryTree()
    for i in range(13):
        fork.append(f"leaf {i}".encode() if i < 9 else b"rewritten")
    files: dict[str, Any] = {"vkey": signer.verifier().to_string()}
    for name, t, size in [("cp9", tree, 9), ("cp13", tree, 13), ("fork13", fork, 13)]:
        path = tmp_path / f"{name}.txt"
        path.write_text(
            sign_checkpoint(Checkpoint("lotproof.example/log", size, t.root(size)), [signer])
        )
        files[name] = str(path)
    for name, data in [
        ("inc13", InclusionProof.build(tree, 4, 13).to_json()),
        ("inc9", InclusionProof.build(tree, 4, 9).to_json()),
        ("con9_13", ConsistencyProof.build(tree, 9, 13).to_json()),
        ("con5_9", ConsistencyProof.build(tree, 5, 9).to_json()),
    ]:
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        files[name] = str(path)
    return files


def test_inclusion_bound_to_its_signed_checkpoint(
    bound: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    key = ["--key", bound["vkey"], "--origin", "lotproof.example/log"]
    code, out, _ = run(
        capsys, "verify", "inclusion", bound["inc13"], "--checkpoint", bound["cp13"], *key
    )
    assert code == 0
    assert out.splitlines() == [
        f"OK {bound['cp13']}: checkpoint of lotproof.example/log at size 13",
        f"OK {bound['inc13']}",
    ]
    code, out, _ = run(
        capsys, "verify", "inclusion", bound["inc9"], "--checkpoint", bound["cp13"], *key
    )
    assert code == 1
    assert out.splitlines()[1].startswith(f"FAIL {bound['inc9']}: proof is about size 9 root ")
    code, out, _ = run(
        capsys, "verify", "inclusion", bound["inc13"], "--checkpoint", bound["fork13"], *key
    )
    assert code == 1 and "but the checkpoint of lotproof.example/log is size 13" in out


def test_consistency_bound_to_both_signed_checkpoints(
    bound: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    both = ["--checkpoint", bound["cp9"], "--checkpoint", bound["cp13"], "--key", bound["vkey"]]
    code, out, _ = run(capsys, "verify", "consistency", bound["con9_13"], *both)
    assert code == 0 and out.splitlines()[-1] == f"OK {bound['con9_13']}"
    code, out, _ = run(capsys, "verify", "consistency", bound["con5_9"], *both)
    assert code == 1 and out.splitlines()[-1].startswith(f"FAIL {bound['con5_9']}: proof is about")
    # A rewritten history: the fork's size-13 root is not what the 9 -> 13 proof leads to.
    fork = ["--checkpoint", bound["cp9"], "--checkpoint", bound["fork13"], "--key", bound["vkey"]]
    code, out, _ = run(capsys, "verify", "consistency", bound["con9_13"], *fork)
    assert code == 1 and "FAIL" in out.splitlines()[-1]


def test_an_untrusted_or_malformed_checkpoint_stops_before_the_proofs(
    bound: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = NoteSigner.generate("lotproof.example/log").verifier().to_string()
    code, out, _ = run(
        capsys,
        "verify",
        "inclusion",
        bound["inc13"],
        "--checkpoint",
        bound["cp13"],
        "--key",
        stranger,
    )
    assert code == 1 and out.splitlines() == [out.splitlines()[0]]
    assert out.startswith(f"FAIL {bound['cp13']}: note has no signature by a trusted key")
    bad = tmp_path / "bad.txt"
    bad.write_text("not a note")
    code, out, _ = run(
        capsys,
        "verify",
        "inclusion",
        bound["inc13"],
        "--checkpoint",
        str(bad),
        "--key",
        bound["vkey"],
    )
    assert code == 2 and out.startswith(f"ERROR {bad}: note has no blank line")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--key", SUMDB_VKEY], "need --checkpoint"),
        (["--origin", "x"], "need --checkpoint"),
        (["--checkpoint", "cp.txt"], "at least one trusted key"),
    ],
)
def test_binding_options_must_come_together(
    bound: dict[str, Any], extra: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "verify", "inclusion", bound["inc13"], *extra)
    assert code == 2 and out == "" and reason in err


def test_command_groups_are_shared_between_modules(capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import cli_verify
    from scripts.cli import command_group

    def plain_keys(subparsers: Any) -> None:  # a module that knows nothing of command_group
        keys = subparsers.add_parser("keys")
        sub = keys.add_subparsers(dest="k", required=True)
        sub.add_parser("generate").set_defaults(handler=lambda args: 0)

    def grouped_keys(subparsers: Any) -> None:
        command_group(subparsers, "keys", "manage keys").add_parser("list").set_defaults(
            handler=lambda args: 0
        )

    for registrars in ([plain_keys, cli_verify.register], [cli_verify.register, grouped_keys]):
        parser = build_parser(registrars)
        paths = _all_command_paths(parser)
        assert ("keys", "note-keygen") in paths
        assert ("keys", "generate") in paths or ("keys", "list") in paths
    assert main(["keys", "generate"], registrars=[plain_keys, cli_verify.register]) == 0
    capsys.readouterr()


def test_verify_loads_only_its_own_module(proofs: dict[str, Path]) -> None:
    """The auditor's `lotproof verify` must not import the server, the chain or the rules."""
    from scripts import cli_verify
    from scripts.cli import _registrars

    assert _registrars("verify") == [cli_verify.register]
    code = (
        "import sys; from scripts.cli import main; "
        f"rc = main(['verify', 'inclusion', {str(proofs['good'])!r}]); "
        "heavy = [m for m in ('fastapi', 'web3', 'ledger.bundle', 'ledger.trade', 'api') "
        "if m in sys.modules]; print(rc, heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.splitlines()[-1] == "0 []", result
