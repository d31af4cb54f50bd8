"""C2SP checkpoints and signed notes: golang.org/x/mod/sumdb/note vectors, real
sum.golang.org tree heads, the C2SP spec examples, and every malformed form."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    NoteSignatureError,
    NoteSigner,
    NoteVerifier,
    OriginMismatchError,
    UnverifiedNoteError,
    VerifiedCheckpoint,
    generate_note_keys,
    key_hash,
    open_checkpoint,
    open_note,
    parse_note,
    sign_checkpoint,
    sign_note,
)
from ledger.errors import LedgerError, MalformedInputError, SignatureError, VerificationError
from ledger.merkle import MemoryTree

# --- golang.org/x/mod/sumdb/note test vectors (note_test.go) ---------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"

# --- sum.golang.org: its published key and signed tree heads quoted in public documents ------

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_ORIGIN = "go.sum database tree"
SUMDB_HEADS = [
    (
        15368405,
        "/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=",
        "Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295EjwdSwlzgijq5WA9d1Ded7owM=",
    ),
    (
        3784599,
        "7uvxIZ67TZygcq/AehTD8iHYt81Ih+Zl2Y7vXZbfszQ=",
        "Az3grn972wXskjQrsZhVGc93fTU2uOsmSTiId1Wn1lxDCup5z4ggl1/4gaUqOkMa6cMbYvjB7hn7yemNr7Zqanol/go=",
    ),
    (
        19238995,
        "rYNqIZewerbOSOnMYPyCJKxl86UaEBZ1mrEpfiAQhcs=",
        "Az3grut2xBvodM8V9oOPG46SgC7w8BqMN9z5tsbaN9nTEEIPNjhvYZJ4aQOzCy8qW2LEaJBANgKjGlfW42nf3DmtVwc=",
    ),
]


def sumdb_note(size: int, root: str, sig: str) -> str:
    return f"{SUMDB_ORIGIN}\n{size}\n{root}\n\n— sum.golang.org {sig}\n"


# --- keys -----------------------------------------------------------------------------------


def test_known_verifier_and_signer_keys_parse_and_round_trip() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    signer = NoteSigner.from_string(PETER_SKEY)
    assert peter.name == "PeterNeumann" and peter.key_hash.hex() == "c74f20a3"
    assert peter.to_string() == PETER_VKEY and signer.to_string() == PETER_SKEY
    assert signer.verifier() == peter
    assert peter.key_id == "PeterNeumann+c74f20a3"
    want = hashlib.sha256(b"PeterNeumann\n\x01" + peter.public_key).digest()[:4]
    assert key_hash("PeterNeumann", peter.public_key) == want == peter.key_hash
    assert NoteVerifier.from_string(SUMDB_VKEY).key_hash.hex() == "033de0ae"


def _manglings(key: str) -> list[str]:
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    out.remove(key)
    for i in range(len(key)):
        out.append(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])
    return out


def test_every_mangled_verifier_key_is_refused() -> None:
    for bad in _manglings(PETER_VKEY):
        with pytest.raises(MalformedKeyError):
            NoteVerifier.from_string(bad)


def test_every_mangled_signer_key_is_refused() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises(MalformedKeyError):
            NoteSigner.from_string(bad)


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "not canonical base64",  # 'BADKEY==' leaves stray bits
        ),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "algorithm 101"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", "does not match"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "spaces"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "non-empty"),
        ("PeterNeumann+c74f20a3", "name\\+hash8\\+base64key"),
        ("PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not valid base64"),
        ("PeterNeumann+c74f20a3+", "is empty"),
    ],
)
def test_named_bad_verifier_keys(vkey: str, reason: str) -> None:
    with pytest.raises(MalformedKeyError, match=reason):
        NoteVerifier.from_string(vkey)


def test_signer_key_whose_hash_does_not_match_is_refused() -> None:
    bad = PETER_SKEY.replace("c74f20a3", "c74f20a4")
    with pytest.raises(MalformedKeyError, match="does not match its key"):
        NoteSigner.from_string(bad)
    with pytest.raises(MalformedKeyError, match="PRIVATE\\+KEY"):
        NoteSigner.from_string(PETER_VKEY)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "tab\tname", "a\u3000b", "a\u00a0b", "nl\n", "\u2028"]
)
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(MalformedKeyError):
        generate_note_keys(name)


def test_generated_keys_round_trip_and_hide_the_seed() -> None:
    skey, vkey = generate_note_keys("lotproof.example/log")
    signer, verifier = NoteSigner.from_string(skey), NoteVerifier.from_string(vkey)
    assert signer.verifier() == verifier
    assert skey.startswith("PRIVATE+KEY+lotproof.example/log+")
    assert signer.seed.hex() not in repr(signer)
    assert base64.b64encode(signer.seed).decode() not in repr(signer)
    with pytest.raises(FrozenInstanceError):
        signer.name = "other"  # type: ignore[misc]
    assert generate_note_keys("lotproof.example/log") != (skey, vkey)  # fresh randomness


# --- signing notes --------------------------------------------------------------------------


def test_sign_reproduces_the_x_mod_note_vector() -> None:
    note = sign_note(TEXT, [NoteSigner.from_string(PETER_SKEY)])
    assert note == TEXT + "\n" + PETER_SIG


def test_sign_refuses_text_without_final_newline_and_empty_signers() -> None:
    signer = NoteSigner.from_string(PETER_SKEY)
    with pytest.raises(MalformedNoteError, match="end with a newline"):
        sign_note("abc", [signer])
    with pytest.raises(MalformedKeyError, match="at least one signer"):
        sign_note(TEXT, [])
    with pytest.raises(MalformedNoteError, match="control character"):
        sign_note("a\rb\n", [signer])


# --- opening notes: the x/mod Open vectors ---------------------------------------------------


def test_open_one_verified_one_unknown() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert note.text == TEXT
    assert [s.key_id for s in note.verified] == ["PeterNeumann+c74f20a3"]
    assert [s.key_id for s in note.unverified] == ["EnochRoot+af0cfe78"]
    assert note.unverified[0].signature == base64.b64decode(ENOCH_B64)[4:]


def test_open_both_verified() -> None:
    keys = [NoteVerifier.from_string(PETER_VKEY), NoteVerifier.from_string(ENOCH_VKEY)]
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, keys)
    assert [s.name for s in note.verified] == ["PeterNeumann", "EnochRoot"]
    assert note.unverified == ()


def test_open_with_no_trusted_signature_fails() -> None:
    with pytest.raises(UnverifiedNoteError, match="no signature by a trusted key") as info:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert "PeterNeumann+c74f20a3" in str(info.value) and "EnochRoot+af0cfe78" in str(info.value)


def test_the_same_trusted_key_given_twice_is_harmless_but_two_keys_with_one_id_are_refused() -> (
    None
):
    enoch = NoteVerifier.from_string(ENOCH_VKEY)
    peter = NoteVerifier.from_string(PETER_VKEY)
    note = open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    assert [s.name for s in note.verified] == ["EnochRoot"]
    impostor = NoteVerifier.from_public_key("EnochRoot", peter.public_key)
    object.__setattr__(impostor, "key_hash", enoch.key_hash)  # a forged 32-bit collision
    with pytest.raises(MalformedKeyError, match="share the id EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, impostor])


def test_too_many_signatures_is_malformed() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    assert open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter]).verified
    for keys in ([peter], []):
        with pytest.raises(MalformedNoteError, match="101 signatures, at most 100"):
            open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), keys)


def test_a_bad_signature_by_a_trusted_key_rejects_the_note() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteSignatureError, match="PeterNeumann\\+c74f20a3 does not verify"):
        open_note(TEXT + "\n" + bad, [peter])
    assert issubclass(NoteSignatureError, SignatureError)


def test_the_first_line_of_a_trusted_key_decides_as_in_go_note_open() -> None:
    """Go's ``note.Open`` verifies the first line of each (name, key hash) and drops later
    ones; a bad copy after a good line is ignored, a bad copy before it rejects the note.
    docs/bundle.md states the same rule for independent verifiers."""
    peter = NoteVerifier.from_string(PETER_VKEY)
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    note = open_note(TEXT + "\n" + PETER_SIG + bad, [peter])
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    with pytest.raises(NoteSignatureError, match="does not verify"):
        open_note(TEXT + "\n" + bad + PETER_SIG, [peter])


def test_repeated_signatures_count_once_and_unknown_duplicates_are_dropped() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = open_note(
        TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd, [peter]
    )
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    assert len(note.unverified) == 2
    assert note.unverified[1].signature != note.unverified[0].signature


BAD_NOTES: dict[str, bytes | str] = {
    "text only": TEXT,
    "text and blank line": TEXT + "\n",
    "no final newline": TEXT + "\n" + PETER_SIG[:-1],
    "control character": "\x01" + TEXT + "\n" + PETER_SIG,
    "invalid UTF-8": b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    "name with space": TEXT + "\n" + f"— Bad Name {PETER_B64}\n",
    "unexpected line": TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    "CRLF line endings": (TEXT + "\n" + PETER_SIG).replace("\n", "\r\n"),
    "bare CR in text": "a\rb\n\n" + PETER_SIG,
    "tab in text": "a\tb\n\n" + PETER_SIG,
    "hyphen instead of em dash": TEXT + "\n" + PETER_SIG.replace("—", "-"),
    "no space after dash": TEXT + "\n" + PETER_SIG.replace("— ", "—"),
    "no signature after name": TEXT + "\n— PeterNeumann\n",
    "empty signature": TEXT + "\n— PeterNeumann \n",
    "bad base64": TEXT + "\n— PeterNeumann !!!!\n",
    "unpadded base64": TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),
    "signature too short": TEXT + "\n— PeterNeumann AAAAAA==\n",
    "empty signature line": TEXT + "\n" + PETER_SIG + "\n" + PETER_SIG + "x\n",
    "byte order mark": "\ufeff" + TEXT + "\n" + PETER_SIG,
    "lone surrogate": "a\ud800\n\n" + PETER_SIG,
    "too long": "x" * MAX_NOTE_BYTES + "\n\n" + PETER_SIG,
    "not text": 42,  # type: ignore[dict-item]
}


@pytest.mark.parametrize("name", list(BAD_NOTES))
def test_malformed_notes_are_named(name: str) -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    with pytest.raises(MalformedNoteError) as info:
        open_note(BAD_NOTES[name], [peter])
    assert str(info.value)
    with pytest.raises(MalformedInputError):
        open_checkpoint(BAD_NOTES[name], [peter])


def test_a_known_name_with_another_hash_and_another_name_with_the_hash_are_ignored() -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    with pytest.raises(UnverifiedNoteError, match="CarmenSandiego\\+c74f20a3"):
        open_note(TEXT + "\n" + misnamed, [peter])
    wrong_hash = PETER_SIG.replace("x08g", "xxxx")
    with pytest.raises(UnverifiedNoteError):
        open_note(TEXT + "\n" + wrong_hash, [peter])
    # Alongside a good signature, both are merely ignored.
    note = open_note(TEXT + "\n" + misnamed + wrong_hash + PETER_SIG, [peter])
    assert [s.key_id for s in note.verified] == ["PeterNeumann+c74f20a3"]
    assert len(note.unverified) == 2


def test_note_text_may_hold_blank_lines_the_last_one_separates_signatures() -> None:
    """The C2SP signed-note example (a poem with a blank line inside)."""
    poem = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
        "ed è subito sera.\n\n"
        "— quasimodo.example/salvatore "
        "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    text, sigs = parse_note(poem)
    assert text.endswith("\n\ned è subito sera.\n")
    assert [s.name for s in sigs] == ["quasimodo.example/salvatore"]
    with pytest.raises(UnverifiedNoteError):
        open_note(poem, [NoteVerifier.from_string(PETER_VKEY)])
    # As a checkpoint the poem is malformed: its third line is empty.
    with pytest.raises(MalformedCheckpointError, match="line 3 is empty"):
        open_checkpoint(poem, [])


# --- real sum.golang.org signed tree heads ---------------------------------------------------


@pytest.mark.parametrize(("size", "root", "sig"), SUMDB_HEADS)
def test_real_sum_golang_org_checkpoints_verify(size: int, root: str, sig: str) -> None:
    key = NoteVerifier.from_string(SUMDB_VKEY)
    note = sumdb_note(size, root, sig)
    verified = open_checkpoint(note, [key], origin=SUMDB_ORIGIN)
    assert verified == VerifiedCheckpoint(
        Checkpoint(SUMDB_ORIGIN, size, base64.b64decode(root)), ["sum.golang.org+033de0ae"]
    )
    assert verified.checkpoint.to_body() == note.split("\n\n")[0] + "\n"
    assert open_checkpoint(note.encode(), [key]).checkpoint.size == size


@pytest.mark.parametrize(("size", "root", "sig"), SUMDB_HEADS[:1])
def test_tampered_sum_golang_org_checkpoints_fail(size: int, root: str, sig: str) -> None:
    key = NoteVerifier.from_string(SUMDB_VKEY)
    with pytest.raises(NoteSignatureError):
        open_checkpoint(sumdb_note(size + 1, root, sig), [key])
    other_root = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    with pytest.raises(NoteSignatureError):
        open_checkpoint(sumdb_note(size, other_root, sig), [key])
    with pytest.raises(OriginMismatchError, match=r"want 'example\.com/log'"):
        open_checkpoint(sumdb_note(size, root, sig), [key], origin="example.com/log")
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(sumdb_note(size, root, sig), [NoteVerifier.from_string(PETER_VKEY)])


# --- our own checkpoints --------------------------------------------------------------------


def _tree_checkpoint(n: int = 8, origin: str = "lotproof.example/log") -> Checkpoint:
    tree = MemoryTree()
    for i in range(n):
        tree.append(f"leaf {i}".encode())
    return Checkpoint(origin, tree.size, tree.root())


def test_checkpoint_body_is_exactly_c2sp() -> None:
    cp = _tree_checkpoint()
    root_b64 = base64.b64encode(cp.root).decode()
    assert cp.to_body() == f"lotproof.example/log\n8\n{root_b64}\n"
    assert Checkpoint.from_body(cp.to_body()) == cp
    ext = Checkpoint(cp.origin, cp.size, cp.root, ("ext one", "— not a signature"))
    assert ext.to_body().endswith(f"{root_b64}\next one\n— not a signature\n")
    assert Checkpoint.from_body(ext.to_body()) == ext
    empty = Checkpoint("o", 0, hashlib.sha256(b"").digest())
    assert empty.to_body().split("\n")[1] == "0"


def test_sign_and_open_with_rotation_and_cosigners() -> None:
    cp = _tree_checkpoint()
    old, new, witness = (NoteSigner.generate(n) for n in ("lotproof.example/log",) * 2 + ("w1",))
    note = sign_checkpoint(cp, [old, new, witness])
    assert note.startswith(cp.to_body() + "\n— lotproof.example/log ")
    assert note.count("\n— ") == 3
    all_keys = [old.verifier(), new.verifier(), witness.verifier()]
    verified = open_checkpoint(note, all_keys, origin=cp.origin)
    assert verified.checkpoint == cp
    assert verified.verified_by == [old.key_id, new.key_id, witness.key_id]
    assert open_checkpoint(note, [new.verifier()]).verified_by == [new.key_id]
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(note, [NoteSigner.generate("lotproof.example/log").verifier()])


def test_signing_twice_with_one_key_writes_one_line() -> None:
    signer = NoteSigner.generate("a")
    note = sign_checkpoint(_tree_checkpoint(), [signer, signer])
    assert note.count("\n— ") == 1


def test_a_well_signed_note_with_a_bad_body_is_malformed_not_unverified() -> None:
    signer = NoteSigner.generate("log")
    note = sign_note("origin\n007\nAAAA\n", [signer])
    with pytest.raises(MalformedCheckpointError, match="leading zeros"):
        open_checkpoint(note, [signer.verifier()])
    with pytest.raises(MalformedCheckpointError):
        open_checkpoint(note, [])


_ROOT = base64.b64encode(bytes(32)).decode()

BAD_BODIES: dict[str, tuple[str, str]] = {
    "two lines": ("origin\n5\n", "2 lines"),
    "empty origin": (f"\n5\n{_ROOT}\n", "line 1 is empty"),
    "empty size": (f"o\n\n{_ROOT}\n", "line 2 is empty"),
    "leading zero": (f"o\n05\n{_ROOT}\n", "leading zeros"),
    "plus sign": (f"o\n+5\n{_ROOT}\n", "not a decimal"),
    "negative": (f"o\n-5\n{_ROOT}\n", "not a decimal"),
    "space": (f"o\n 5\n{_ROOT}\n", "not a decimal"),
    "fullwidth digits": (f"o\n５\n{_ROOT}\n", "not a decimal"),
    "hex size": (f"o\n0x5\n{_ROOT}\n", "not a decimal"),
    "size 2^64": (f"o\n{2**64}\n{_ROOT}\n", "outside 0..2\\^64-1"),
    "size with 30 digits": (f"o\n{10**29}\n{_ROOT}\n", "beyond 2\\^64-1"),
    "root not base64": ("o\n5\n!!!!\n", "not valid base64"),
    "root 31 bytes": (f"o\n5\n{base64.b64encode(bytes(31)).decode()}\n", "31 bytes, want 32"),
    "root as hex": (f"o\n5\n{bytes(32).hex()}\n", "48 bytes, want 32"),
    "root non-canonical": (f"o\n5\n{_ROOT[:-2]}B=\n", "not canonical"),
    "root unpadded": (f"o\n5\n{_ROOT[:-1]}\n", "not valid base64"),
    "empty extension": (f"o\n5\n{_ROOT}\n\next\n", "line 4 is empty"),
    "no final newline": (f"o\n5\n{_ROOT}", "end with a newline"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_checkpoint_bodies_are_named(name: str) -> None:
    body, reason = BAD_BODIES[name]
    with pytest.raises(MalformedCheckpointError, match=reason):
        Checkpoint.from_body(body)


def test_the_largest_tree_size_parses() -> None:
    cp = Checkpoint.from_body(f"o\n{2**64 - 1}\n{_ROOT}\n")
    assert cp.size == 2**64 - 1


def test_origins_may_hold_spaces_and_unicode() -> None:
    cp = Checkpoint("国药 traceability log", 3, bytes(32))
    assert Checkpoint.from_body(cp.to_body()) == cp
    signer = NoteSigner.generate("log")
    assert open_checkpoint(sign_checkpoint(cp, [signer]), [signer.verifier()]).checkpoint == cp


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"origin": ""}, "origin must be a non-empty"),
        ({"origin": "a\nb"}, "control character"),
        ({"size": -1}, "outside 0..2\\^64-1"),
        ({"size": True}, "must be an integer"),
        ({"size": 1.0}, "must be an integer"),
        ({"root": bytes(31)}, "31 bytes, want 32"),
        ({"root": "00" * 32}, "no bytes, want 32"),
        ({"extensions": ("",)}, "extension line 1"),
        ({"extensions": ("a\nb",)}, "control character"),
    ],
)
def test_checkpoint_fields_are_checked(kwargs: dict[str, object], reason: str) -> None:
    fields: dict[str, object] = {"origin": "o", "size": 1, "root": bytes(32)}
    fields.update(kwargs)
    with pytest.raises(MalformedCheckpointError, match=reason):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_error_classes_sit_in_the_ledger_hierarchy() -> None:
    for cls in (MalformedNoteError, MalformedKeyError, MalformedCheckpointError):
        assert issubclass(cls, MalformedInputError)
    for cls in (UnverifiedNoteError, NoteSignatureError, OriginMismatchError):
        assert issubclass(cls, VerificationError)


# --- fuzz: nothing but named errors, and no single-byte change survives ----------------------

_SIGNER = NoteSigner.from_string(PETER_SKEY)
_GOOD = sign_checkpoint(_tree_checkpoint(), [_SIGNER]).encode()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_GOOD) - 1), st.integers(1, 255))
def test_any_single_byte_change_to_a_signed_checkpoint_is_refused(pos: int, delta: int) -> None:
    data = bytearray(_GOOD)
    data[pos] = (data[pos] + delta) % 256
    with pytest.raises(LedgerError):
        open_checkpoint(bytes(data), [_SIGNER.verifier()])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=200))
def test_garbage_raises_only_named_errors(data: bytes | str) -> None:
    with pytest.raises(LedgerError):
        open_checkpoint(data, [_SIGNER.verifier()])
    with pytest.raises(LedgerError):
        open_checkpoint(
            _GOOD[:60] + (data.encode("utf-8", "replace") if isinstance(data, str) else data),
            [_SIGNER.verifier()],
        )
