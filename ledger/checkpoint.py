"""C2SP checkpoints (tlog-checkpoint) signed as C2SP signed notes with Ed25519.

A checkpoint body is the note text::

    <origin>\\n
    <tree size, decimal, no leading zeros>\\n
    <base64 of the 32-byte RFC 6962 root>\\n
    [<extension line>\\n ...]

A signed note is the text, a blank line, then one or more signature lines::

    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>\\n

with the em dash U+2014 and a space. The key hash is the first four bytes of
SHA-256(name || 0x0A || 0x01 || 32-byte public key). Keys travel as strings: a verifier key
``name+hex8+base64(0x01 || public key)`` and a signer key
``PRIVATE+KEY+name+hex8+base64(0x01 || seed)``, as golang.org/x/mod/sumdb/note writes them.

Opening a note (``open_note``, ``open_checkpoint``) follows x/mod/sumdb/note:

- the whole note must be UTF-8 with no ASCII control character other than newline (so a
  bare CR or a tab is malformed), at most ``MAX_NOTE_BYTES`` long, with at most
  ``MAX_SIGNATURES`` signature lines;
- a signature whose (name, key hash) pair is not a trusted key is ignored, even when the
  name alone (or the hash alone) matches a trusted key;
- a signature by a trusted key that does not verify rejects the whole note
  (``NoteSignatureError``); repeated signatures by one key count once (the first is checked);
- at least one trusted signature must verify (``UnverifiedNoteError``).

Malformed notes, keys and checkpoint bodies raise ``MalformedInputError`` subclasses; notes
that are well formed but not verified raise ``VerificationError`` subclasses. Base64 is the
standard alphabet with padding and must be canonical (what an encoder writes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from ledger.errors import MalformedInputError, SignatureError, VerificationError

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 18
"""256 KiB: room for 100 signature lines, far more than any checkpoint needs."""
MAX_TREE_SIZE = 2**64 - 1
HASH_SIZE = 32
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_CONTROL_RE = re.compile("[\x00-\x09\x0b-\x1f]")


# --- errors ---------------------------------------------------------------------------------


class MalformedNoteError(MalformedInputError):
    """A signed note that is not of the C2SP signed-note form."""


class MalformedKeyError(MalformedInputError):
    """A signer or verifier key string that is not of the expected form."""


class MalformedCheckpointError(MalformedInputError):
    """A note text that is not a C2SP tlog checkpoint body."""


class UnverifiedNoteError(VerificationError):
    """A well-formed note with no signature by any trusted key."""


class NoteSignatureError(SignatureError):
    """A signature by a trusted key (name and key hash match) that does not verify."""


class OriginMismatchError(VerificationError):
    """A checkpoint from another log than the one expected."""


# --- names, hashes, base64 ------------------------------------------------------------------


def _is_space(ch: str) -> bool:
    return ch.isspace() or ch in "\u0085\u00a0\u1680\u180e\u2028\u2029\u202f\u205f\u3000"


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid note key name, else raise ``MalformedKeyError``.

    Non-empty, valid UTF-8, no Unicode space, no ``+``, no control character.
    """
    if not isinstance(name, str) or not name:
        raise MalformedKeyError("key name must be a non-empty string")
    for ch in name:
        if ch == "+" or _is_space(ch) or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise MalformedKeyError(
                f"key name {name!r} contains {ch!r}; spaces, + and controls are not allowed"
            )
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise MalformedKeyError(f"key name {name!r} is not valid UTF-8")
    return name


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    check_key_name(name)
    if len(public_key) != 32:
        raise MalformedKeyError(f"Ed25519 public key has {len(public_key)} bytes, want 32")
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:4]


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard padded base64, refusing anything an encoder would not have written."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as e:
        raise MalformedInputError(f"{what} is not valid base64: {text[:80]!r}") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedInputError(f"{what} is not canonical base64: {text[:80]!r}")
    return raw


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: name, 4-byte key hash, 32-byte public key."""

    name: str
    key_hash: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if key_hash(self.name, self.public_key) != self.key_hash:
            raise MalformedKeyError(
                f"key hash {self.key_hash.hex()} does not match key {self.name!r}, "
                f"want {key_hash(self.name, self.public_key).hex()}"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        return cls(name, key_hash(name, public_key), bytes(public_key))

    @classmethod
    def from_string(cls, vkey: str) -> NoteVerifier:
        """Parse ``name+hex8+base64(0x01 || public key)``."""
        if not isinstance(vkey, str):
            raise MalformedKeyError("verifier key must be a string")
        vkey = vkey.strip()
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError(
                f"verifier key must look like name+hash8+base64key, got {vkey[:80]!r}"
            )
        name, hash_hex, key_b64 = parts
        check_key_name(name)
        hash_bytes = _parse_hash_hex(hash_hex)
        try:
            key = b64decode_strict(key_b64, "verifier key")
        except MalformedInputError as e:
            raise MalformedKeyError(str(e)) from e
        if not key:
            raise MalformedKeyError("verifier key is empty")
        if key[0] != ALG_ED25519:
            raise MalformedKeyError(f"verifier key algorithm {key[0]}, want 1 (Ed25519)")
        if len(key) != 33:
            raise MalformedKeyError(f"Ed25519 verifier key has {len(key) - 1} bytes, want 32")
        return cls(name, hash_bytes, key[1:])

    @property
    def key_id(self) -> str:
        """``name+hex8``: the name and key hash that identify this key in a note."""
        return f"{self.name}+{self.key_hash.hex()}"

    def to_string(self) -> str:
        return f"{self.key_id}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            return False
        return True


def _parse_hash_hex(hash_hex: str) -> bytes:
    if len(hash_hex) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hash_hex):
        raise MalformedKeyError(f"key hash must be 8 hex digits, got {hash_hex[:20]!r}")
    return bytes.fromhex(hash_hex)


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note signing key. The seed is private; ``repr`` does not show it."""

    name: str
    seed: bytes = field(repr=False)
    key_hash: bytes = field(init=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise MalformedKeyError("Ed25519 seed must be 32 bytes")
        public = bytes(nacl.signing.SigningKey(self.seed).verify_key)
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "key_hash", key_hash(self.name, public))

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, secrets.token_bytes(32))

    @classmethod
    def from_string(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+hex8+base64(0x01 || seed)``; the hash must match."""
        if not isinstance(skey, str):
            raise MalformedKeyError("signer key must be a string")
        skey = skey.strip()
        if not skey.startswith(_PRIVATE_PREFIX):
            raise MalformedKeyError("signer key must start with PRIVATE+KEY+")
        parts = skey[len(_PRIVATE_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError("signer key must look like PRIVATE+KEY+name+hash8+base64key")
        name, hash_hex, key_b64 = parts
        check_key_name(name)
        hash_bytes = _parse_hash_hex(hash_hex)
        try:
            key = b64decode_strict(key_b64, "signer key")
        except MalformedInputError as e:
            raise MalformedKeyError(str(e)) from e
        if not key or key[0] != ALG_ED25519:
            raise MalformedKeyError("signer key algorithm is not 1 (Ed25519)")
        if len(key) != 33:
            raise MalformedKeyError(f"Ed25519 seed has {len(key) - 1} bytes, want 32")
        signer = cls(name, key[1:])
        if signer.key_hash != hash_bytes:
            raise MalformedKeyError(
                f"signer key hash {hash_hex} does not match its key, want {signer.key_hash.hex()}"
            )
        return signer

    @property
    def key_id(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}"

    def to_string(self) -> str:
        return f"{_PRIVATE_PREFIX}{self.key_id}+{_b64(bytes([ALG_ED25519]) + self.seed)}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_hash, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).sign(message).signature)


def generate_note_keys(name: str) -> tuple[str, str]:
    """A fresh Ed25519 note key pair as ``(signer_string, verifier_string)``."""
    signer = NoteSigner.generate(name)
    return signer.to_string(), signer.verifier().to_string()


# --- notes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key hash, signature bytes (after the hash)."""

    name: str
    key_hash: bytes
    signature: bytes

    @property
    def key_id(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and which signatures verified or were ignored."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _decode_note(note: str | bytes) -> str:
    if isinstance(note, bytes | bytearray):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedNoteError(f"note has {len(note)} bytes, at most {MAX_NOTE_BYTES}")
        try:
            text = bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNoteError(f"note is not valid UTF-8 (byte {e.start})") from e
    elif isinstance(note, str):
        text = note
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as e:
            raise MalformedNoteError(f"note is not valid UTF-8 (character {e.start})") from e
        if size > MAX_NOTE_BYTES:
            raise MalformedNoteError(f"note has {size} bytes, at most {MAX_NOTE_BYTES}")
    else:
        raise MalformedNoteError(f"note must be text, got {type(note).__name__}")
    bad = _CONTROL_RE.search(text)
    if bad:
        raise MalformedNoteError(
            f"note contains control character {bad.group()!r} at {bad.start()}; "
            "only newline is allowed"
        )
    if text.startswith("\ufeff"):
        raise MalformedNoteError("note starts with a byte order mark")
    return text


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError(
            f"signature line {number} must start with an em dash and a space, got {line[:40]!r}"
        )
    name, sep, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not b64:
        raise MalformedNoteError(f"signature line {number} has no signature after the key name")
    try:
        check_key_name(name)
        raw = b64decode_strict(b64, f"signature line {number}")
    except MalformedInputError as e:
        raise MalformedNoteError(f"signature line {number}: {e}") from e
    if len(raw) < 5:
        raise MalformedNoteError(
            f"signature line {number} carries {len(raw)} bytes, want a 4-byte key hash and more"
        )
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signatures, checking only the form."""
    text = _decode_note(note)
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    body, sig_block = text[: split + 1], text[split + 2 :]
    if not sig_block:
        raise MalformedNoteError("note has no signature lines after the blank line")
    if not sig_block.endswith("\n"):
        raise MalformedNoteError("the last signature line does not end with a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has {len(lines)} signatures, at most {MAX_SIGNATURES}")
    return body, [_parse_signature_line(line, i + 1) for i, line in enumerate(lines)]


def _verifier_map(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise MalformedKeyError(f"trusted keys must be NoteVerifier, got {type(v).__name__}")
        slot = (v.name, v.key_hash)
        if slot in known and known[slot] != v:
            raise MalformedKeyError(f"two different trusted keys share the id {v.key_id}")
        known[slot] = v
    return known


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and check its signatures against the trusted keys.

    Raises ``MalformedNoteError`` for a malformed note, ``NoteSignatureError`` when a trusted
    key's signature does not verify, ``UnverifiedNoteError`` when no trusted key signed.
    """
    known = _verifier_map(verifiers)
    text, signatures = parse_note(note)
    return _check_signatures(text, signatures, known)


def _check_signatures(
    text: str, signatures: list[NoteSignature], known: dict[tuple[str, bytes], NoteVerifier]
) -> Note:
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in signatures:
        slot = (sig.name, sig.key_hash)
        verifier = known.get(slot)
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if slot in seen:
            continue
        seen.add(slot)
        if not verifier.verify(message, sig.signature):
            raise NoteSignatureError(f"signature by trusted key {verifier.key_id} does not verify")
        verified.append(sig)
    if not verified:
        found = ", ".join(s.key_id for s in unverified) or "none"
        trusted = ", ".join(v.key_id for v in known.values()) or "none"
        raise UnverifiedNoteError(
            f"note has no signature by a trusted key (trusted: {trusted}; signed by: {found})"
        )
    return Note(text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer; return the note."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    _decode_note(text)
    if not signers:
        raise MalformedKeyError("at least one signer is required")
    message = text.encode("utf-8")
    lines: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for signer in signers:
        if not isinstance(signer, NoteSigner):
            raise MalformedKeyError(f"signers must be NoteSigner, got {type(signer).__name__}")
        if (signer.name, signer.key_hash) in seen:
            continue
        seen.add((signer.name, signer.key_hash))
        blob = _b64(signer.key_hash + signer.sign(message))
        lines.append(f"{SIGNATURE_PREFIX}{signer.name} {blob}\n")
    return text + "\n" + "".join(lines)


# --- checkpoints ----------------------------------------------------------------------------


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise MalformedCheckpointError(f"{what} must be a non-empty string")
    for ch in value:
        if ch < "\x20":
            raise MalformedCheckpointError(f"{what} contains control character {ch!r}")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise MalformedCheckpointError(f"{what} is not valid UTF-8")


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog checkpoint: the log's origin, tree size and RFC 6962 root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedCheckpointError(
                f"tree size must be an integer, got {type(self.size).__name__}"
            )
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpointError(f"tree size {self.size} is outside 0..2^64-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            got = len(self.root) if isinstance(self.root, bytes | bytearray) else "no"
            raise MalformedCheckpointError(f"root hash has {got} bytes, want {HASH_SIZE}")
        extensions: object = self.extensions
        if isinstance(extensions, list):  # be forgiving: store a list as a tuple
            object.__setattr__(self, "extensions", tuple(extensions))
        elif not isinstance(extensions, tuple):
            raise MalformedCheckpointError("checkpoint extensions must be a tuple of lines")
        for i, ext in enumerate(self.extensions):
            _check_line(ext, f"extension line {i + 1}")

    def to_body(self) -> str:
        """The note text: origin, size, base64 root, extensions, each line ending in \\n."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (a note text); raises ``MalformedCheckpointError``."""
        if not isinstance(text, str):
            raise MalformedCheckpointError("checkpoint body must be text")
        if not text.endswith("\n"):
            raise MalformedCheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError(
                f"checkpoint body has {len(lines)} lines, want origin, size and root hash"
            )
        origin, size_text, root_text, *extensions = lines
        for i, line in enumerate(lines):
            if not line:
                raise MalformedCheckpointError(f"checkpoint line {i + 1} is empty")
        if not size_text.isascii() or not size_text.isdigit():
            raise MalformedCheckpointError(f"tree size {size_text[:40]!r} is not a decimal number")
        if size_text != "0" and size_text.startswith("0"):
            raise MalformedCheckpointError(f"tree size {size_text[:40]!r} has leading zeros")
        if len(size_text) > 20:
            raise MalformedCheckpointError(f"tree size {size_text[:40]!r} is beyond 2^64-1")
        try:
            root = b64decode_strict(root_text, "root hash")
        except MalformedInputError as e:
            raise MalformedCheckpointError(str(e)) from e
        if len(root) != HASH_SIZE:
            raise MalformedCheckpointError(f"root hash has {len(root)} bytes, want {HASH_SIZE}")
        return cls(origin, int(size_text), root, tuple(extensions))


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose note carried a valid signature by each key in ``verified_by``."""

    checkpoint: Checkpoint
    verified_by: list[str]
    """``name+hex8`` of every trusted key whose signature verified, in note order."""


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[NoteSigner]) -> str:
    """The signed note text of ``checkpoint``, one signature line per signer."""
    return sign_note(checkpoint.to_body(), signers)


def open_checkpoint(
    note_text: str | bytes, verifiers: Iterable[NoteVerifier], origin: str | None = None
) -> VerifiedCheckpoint:
    """Open a signed checkpoint; require a trusted signature and, if given, the origin.

    The note's form is checked first, then its body is parsed as a checkpoint, then the
    signatures are checked, then the origin: a malformed note is reported as malformed even
    when no trusted key signed it.
    """
    known = _verifier_map(verifiers)
    text, signatures = parse_note(note_text)
    checkpoint = Checkpoint.from_body(text)
    note = _check_signatures(text, signatures, known)
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(f"checkpoint origin is {checkpoint.origin!r}, want {origin!r}")
    return VerifiedCheckpoint(checkpoint, [s.key_id for s in note.verified])
