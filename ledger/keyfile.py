"""Participant key files: an Ed25519 seed (and optionally an EVM key) sealed with a passphrase.

A key file is versioned JSON (UTF-8)::

    {
      "format": "lotproof-key",
      "version": 1,
      "key_id": "<16 hex>",                 # key_id_for(public_key), see ledger/records.py
      "public_key": "<64 hex>",             # Ed25519 public key
      "actor": "<USCC>" | null,             # whose key it is (informational, also sealed)
      "evm_address": "<40 hex>" | null,     # informational, also sealed
      "kdf": {"algorithm": "argon2id", "opslimit": 2, "memlimit": 67108864,
              "salt": "<32 hex>"},
      "cipher": {"algorithm": "xsalsa20-poly1305", "nonce": "<48 hex>",
                 "ciphertext": "<hex>"}
    }

The box key is ``argon2id(passphrase, salt, opslimit, memlimit)`` (libsodium's
``crypto_pwhash``, 32 bytes); the ciphertext is ``crypto_secretbox`` (XSalsa20-Poly1305) of
the canonical JSON ``{"actor", "ed25519_seed", "evm_address", "evm_private_key", "key_id"}``.
After opening, the sealed fields must equal the clear ones and the seed must derive the
clear public key, so editing any clear field makes the file refuse to open.

Errors: a wrong passphrase or a tampered file raises ``WrongPassphraseError`` /
``VerificationError``; a file that is not of this form raises ``MalformedInputError``.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from nacl.pwhash import argon2id

from ledger.canonical import canonical_bytes, parse_json
from ledger.errors import MalformedInputError, VerificationError
from ledger.records import SigningKey, key_id_for

KEYFILE_FORMAT = "lotproof-key"
KEYFILE_VERSION = 1
KDF_ALGORITHM = "argon2id"
CIPHER_ALGORITHM = "xsalsa20-poly1305"

# Bounds accepted when reading, so a hostile file cannot ask for unbounded work or memory.
MAX_OPSLIMIT = 16
MAX_MEMLIMIT = 1 << 30

_HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")


@dataclass(frozen=True)
class KdfStrength:
    """Argon2id cost parameters."""

    opslimit: int
    memlimit: int


INTERACTIVE = KdfStrength(argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE)
"""The default: about 0.1 s and 64 MiB on this project's machines."""
MODERATE = KdfStrength(argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)
FAST_FOR_TESTS = KdfStrength(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
"""Minimal cost: only for tests and throwaway demo keys."""


class WrongPassphraseError(VerificationError):
    """The passphrase does not open the key file (or its ciphertext was altered)."""


@dataclass(frozen=True)
class KeyMaterial:
    """What a key file holds once opened."""

    signing_key: SigningKey
    actor: str | None = None
    evm_private_key: bytes | None = None
    evm_address: str | None = None

    def __post_init__(self) -> None:
        if self.evm_private_key is not None and len(self.evm_private_key) != 32:
            raise MalformedInputError(
                f"EVM private key has {len(self.evm_private_key)} bytes, want 32"
            )
        if self.evm_address is not None and not re.fullmatch(r"[0-9a-f]{40}", self.evm_address):
            raise MalformedInputError(
                f"EVM address must be 40 lowercase hex digits, got {self.evm_address!r}"
            )

    @property
    def key_id(self) -> str:
        return self.signing_key.key_id


def _passphrase_bytes(passphrase: bytes | str) -> bytes:
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not isinstance(data, bytes) or not data:
        raise MalformedInputError("the passphrase must not be empty")
    return data


def _box(passphrase: bytes, salt: bytes, strength: KdfStrength) -> nacl.secret.SecretBox:
    key = argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase,
        salt,
        opslimit=strength.opslimit,
        memlimit=strength.memlimit,
    )
    return nacl.secret.SecretBox(key)


def _sealed_fields(material: KeyMaterial) -> dict[str, Any]:
    return {
        "actor": material.actor,
        "ed25519_seed": material.signing_key.seed.hex(),
        "evm_address": material.evm_address,
        "evm_private_key": (
            material.evm_private_key.hex() if material.evm_private_key is not None else None
        ),
        "key_id": material.key_id,
    }


def seal_key(
    material: KeyMaterial, passphrase: bytes | str, strength: KdfStrength = INTERACTIVE
) -> dict[str, Any]:
    """The key-file document for ``material``, sealed with ``passphrase``."""
    secret = _passphrase_bytes(passphrase)
    salt = secrets.token_bytes(argon2id.SALTBYTES)
    nonce = secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE)
    box = _box(secret, salt, strength)
    ciphertext = box.encrypt(canonical_bytes(_sealed_fields(material)), nonce).ciphertext
    return {
        "format": KEYFILE_FORMAT,
        "version": KEYFILE_VERSION,
        "key_id": material.key_id,
        "public_key": material.signing_key.public_key.hex(),
        "actor": material.actor,
        "evm_address": material.evm_address,
        "kdf": {
            "algorithm": KDF_ALGORITHM,
            "opslimit": strength.opslimit,
            "memlimit": strength.memlimit,
            "salt": salt.hex(),
        },
        "cipher": {
            "algorithm": CIPHER_ALGORITHM,
            "nonce": nonce.hex(),
            "ciphertext": bytes(ciphertext).hex(),
        },
    }


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in obj:
        raise MalformedInputError(f"{where} is missing {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedInputError(
            f"{where}.{name} must be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _hex(obj: dict[str, Any], name: str, where: str, size: int | None = None) -> bytes:
    text = _field(obj, name, str, where)
    if not _HEX_RE.fullmatch(text):
        raise MalformedInputError(f"{where}.{name} must be lowercase hex")
    value = bytes.fromhex(text)
    if size is not None and len(value) != size:
        raise MalformedInputError(f"{where}.{name} has {len(value)} bytes, want {size}")
    return value


def _optional_str(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise MalformedInputError(f"{where}.{name} must be a string or null")
    return value


def open_key(document: dict[str, Any] | bytes | str, passphrase: bytes | str) -> KeyMaterial:
    """Open a key-file document (parsed JSON or its bytes) with ``passphrase``."""
    doc = parse_json(document, "key file") if isinstance(document, bytes | str) else document
    if not isinstance(doc, dict):
        raise MalformedInputError("key file must be a JSON object")
    if doc.get("format") != KEYFILE_FORMAT:
        raise MalformedInputError(
            f"key file format is {doc.get('format')!r}, want {KEYFILE_FORMAT!r}"
        )
    version = doc.get("version")
    if version != KEYFILE_VERSION:
        raise MalformedInputError(f"key file version {version!r}, want {KEYFILE_VERSION}")
    public_key = _hex(doc, "public_key", "key file", 32)
    key_id = _field(doc, "key_id", str, "key file")
    actor = _optional_str(doc, "actor", "key file")
    evm_address = _optional_str(doc, "evm_address", "key file")
    kdf = _field(doc, "kdf", dict, "key file")
    cipher = _field(doc, "cipher", dict, "key file")
    if kdf.get("algorithm") != KDF_ALGORITHM:
        raise MalformedInputError(f"kdf algorithm {kdf.get('algorithm')!r}, want argon2id")
    if cipher.get("algorithm") != CIPHER_ALGORITHM:
        raise MalformedInputError(
            f"cipher algorithm {cipher.get('algorithm')!r}, want {CIPHER_ALGORITHM}"
        )
    opslimit = _field(kdf, "opslimit", int, "kdf")
    memlimit = _field(kdf, "memlimit", int, "kdf")
    if not argon2id.OPSLIMIT_MIN <= opslimit <= MAX_OPSLIMIT:
        raise MalformedInputError(
            f"kdf.opslimit {opslimit} is outside [{argon2id.OPSLIMIT_MIN}, {MAX_OPSLIMIT}]"
        )
    if not argon2id.MEMLIMIT_MIN <= memlimit <= MAX_MEMLIMIT:
        raise MalformedInputError(
            f"kdf.memlimit {memlimit} is outside [{argon2id.MEMLIMIT_MIN}, {MAX_MEMLIMIT}]"
        )
    salt = _hex(kdf, "salt", "kdf", argon2id.SALTBYTES)
    nonce = _hex(cipher, "nonce", "cipher", nacl.secret.SecretBox.NONCE_SIZE)
    ciphertext = _hex(cipher, "ciphertext", "cipher")

    box = _box(_passphrase_bytes(passphrase), salt, KdfStrength(opslimit, memlimit))
    try:
        plain = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise WrongPassphraseError(
            f"the passphrase does not open key file {key_id} (or the file was altered)"
        ) from None
    sealed = parse_json(plain, "sealed key")
    if not isinstance(sealed, dict):
        raise VerificationError("sealed key is not an object")
    seed = _hex(sealed, "ed25519_seed", "sealed key", 32)
    evm_hex = sealed.get("evm_private_key")
    evm_key = _hex(sealed, "evm_private_key", "sealed key", 32) if evm_hex is not None else None
    material = KeyMaterial(
        signing_key=SigningKey(seed),
        actor=_optional_str(sealed, "actor", "sealed key"),
        evm_private_key=evm_key,
        evm_address=_optional_str(sealed, "evm_address", "sealed key"),
    )
    found = {
        "key_id": key_id,
        "public_key": public_key.hex(),
        "actor": actor,
        "evm_address": evm_address,
    }
    expected = {
        "key_id": key_id_for(material.signing_key.public_key),
        "public_key": material.signing_key.public_key.hex(),
        "actor": material.actor,
        "evm_address": material.evm_address,
    }
    for name, want in expected.items():
        if found[name] != want:
            raise VerificationError(
                f"key file {name} is {found[name]!r} but the sealed key says {want!r}"
            )
    return material


def write_key_file(
    path: str | os.PathLike[str],
    material: KeyMaterial,
    passphrase: bytes | str,
    *,
    strength: KdfStrength = INTERACTIVE,
    overwrite: bool = False,
) -> None:
    """Write a sealed key file readable only by its owner (mode 0600)."""
    target = Path(path)
    data = canonical_bytes(seal_key(material, passphrase, strength)) + b"\n"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise MalformedInputError(f"key file {target} already exists") from None
    except OSError as e:
        raise MalformedInputError(f"cannot write key file {target}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_key_file(path: str | os.PathLike[str], passphrase: bytes | str) -> KeyMaterial:
    """Read and open a key file."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise MalformedInputError(f"cannot read key file {path}: {e.strerror}") from None
    return open_key(data, passphrase)


def read_public_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The clear fields of a key file (key id, public key, actor) without the passphrase."""
    try:
        doc = parse_json(Path(path).read_bytes(), "key file")
    except OSError as e:
        raise MalformedInputError(f"cannot read key file {path}: {e.strerror}") from None
    if not isinstance(doc, dict) or doc.get("format") != KEYFILE_FORMAT:
        raise MalformedInputError(f"{path} is not a lotproof key file")
    _hex(doc, "public_key", "key file", 32)
    return {k: doc.get(k) for k in ("key_id", "public_key", "actor", "evm_address")}
