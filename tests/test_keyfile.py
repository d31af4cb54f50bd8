"""Encrypted participant key files: round trip, wrong passphrase, tampering, hostile input."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ledger.errors import MalformedInputError, VerificationError
from ledger.keyfile import (
    FAST_FOR_TESTS,
    KeyMaterial,
    WrongPassphraseError,
    open_key,
    read_key_file,
    read_public_info,
    seal_key,
    write_key_file,
)
from ledger.records import SigningKey, make_record, verify_record

ACTOR = "91110000100000000A"


def _material(evm: bool = True) -> KeyMaterial:
    return KeyMaterial(
        signing_key=SigningKey.generate(),
        actor=ACTOR,
        evm_private_key=os.urandom(32) if evm else None,
        evm_address="ab" * 20 if evm else None,
    )


def test_round_trip_signs_with_the_same_key(tmp_path: Path) -> None:
    material = _material()
    path = tmp_path / "k.json"
    write_key_file(path, material, "correct horse", strength=FAST_FOR_TESTS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    opened = read_key_file(path, "correct horse")
    assert opened.signing_key.seed == material.signing_key.seed
    assert opened.evm_private_key == material.evm_private_key
    assert opened.actor == ACTOR
    signed = make_record(opened.signing_key, "batch", ACTOR, {"lot": "L1"})
    verify_record(signed, material.signing_key.public_key)
    info = read_public_info(path)
    assert info["key_id"] == material.key_id
    assert info["public_key"] == material.signing_key.public_key.hex()
    # The seed is nowhere in clear.
    assert material.signing_key.seed.hex() not in path.read_text()


def test_no_evm_key_round_trip() -> None:
    material = _material(evm=False)
    doc = seal_key(material, b"pw", FAST_FOR_TESTS)
    opened = open_key(doc, b"pw")
    assert opened.evm_private_key is None and opened.evm_address is None
    assert opened.key_id == material.key_id


def test_wrong_passphrase_is_refused() -> None:
    doc = seal_key(_material(), "right", FAST_FOR_TESTS)
    with pytest.raises(WrongPassphraseError, match="does not open"):
        open_key(doc, "wrong")


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    write_key_file(path, _material(), "pw", strength=FAST_FOR_TESTS)
    before = path.read_bytes()
    with pytest.raises(MalformedInputError, match="already exists"):
        write_key_file(path, _material(), "pw", strength=FAST_FOR_TESTS)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "mutate", "error"),
    [
        ("edited actor", lambda d: d.__setitem__("actor", "X"), VerificationError),
        ("swapped public key", lambda d: d.__setitem__("public_key", "00" * 32), VerificationError),
        ("edited key id", lambda d: d.__setitem__("key_id", "0" * 16), VerificationError),
        (
            "flipped ciphertext bit",
            lambda d: d["cipher"].__setitem__(
                "ciphertext",
                ("1" if d["cipher"]["ciphertext"][0] == "0" else "0")
                + d["cipher"]["ciphertext"][1:],
            ),
            WrongPassphraseError,
        ),
        ("other salt", lambda d: d["kdf"].__setitem__("salt", "00" * 16), WrongPassphraseError),
        ("wrong format", lambda d: d.__setitem__("format", "pem"), MalformedInputError),
        ("future version", lambda d: d.__setitem__("version", 2), MalformedInputError),
        ("huge memlimit", lambda d: d["kdf"].__setitem__("memlimit", 1 << 40), MalformedInputError),
        ("float opslimit", lambda d: d["kdf"].__setitem__("opslimit", 2.5), MalformedInputError),
        ("short nonce", lambda d: d["cipher"].__setitem__("nonce", "00"), MalformedInputError),
        ("uppercase hex", lambda d: d.__setitem__("public_key", "AB" * 32), MalformedInputError),
        ("missing cipher", lambda d: d.pop("cipher"), MalformedInputError),
        ("other kdf", lambda d: d["kdf"].__setitem__("algorithm", "scrypt"), MalformedInputError),
    ],
)
def test_tampered_or_malformed_files_fail_with_named_errors(name, mutate, error) -> None:
    doc = seal_key(_material(), "pw", FAST_FOR_TESTS)
    doc = json.loads(json.dumps(doc))
    mutate(doc)
    with pytest.raises(error):
        open_key(doc, "pw")


def test_not_json_and_empty_passphrase(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(MalformedInputError, match="not valid JSON"):
        read_key_file(bad, "pw")
    with pytest.raises(MalformedInputError, match="cannot read"):
        read_key_file(tmp_path / "missing.json", "pw")
    with pytest.raises(MalformedInputError, match="must not be empty"):
        seal_key(_material(), "", FAST_FOR_TESTS)
