"""``lotproof verify ...`` (the auditor's offline checks) and ``lotproof keys note-keygen``.

``verify inclusion FILE...`` / ``verify consistency FILE...`` print one line per file:
``OK <file>``, ``FAIL <file>: <reason>`` (well formed, does not verify) or
``ERROR <file>: <reason>`` (unreadable or malformed). Exit 0 if all are OK, 1 if any FAIL
and none is an ERROR, 2 if any ERROR.

With ``--checkpoint CP --key VKEY``, each checkpoint must carry a trusted signature (else
``FAIL``/``ERROR`` for it and no proof is checked) and every proof must be about its tree:
an inclusion proof for its (size, root), a consistency proof from or to it.

``verify checkpoint FILE --key VKEY...`` opens a C2SP signed checkpoint: exit 0 when a
trusted key's signature verifies (and the origin matches, if ``--origin`` is given), 1 when
none does, 2 when the file or a key is malformed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ledger.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    check_key_name,
    open_checkpoint,
)
from ledger.errors import LedgerError, MalformedInputError, VerificationError
from ledger.proofs import ConsistencyProof, InclusionProof, check_against_checkpoint
from scripts.cli import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    Subparsers,
    command_group,
    describe_os_error,
    one_line,
    read_input,
)

_EXIT_HELP = "Exit 0 if every file verifies, 1 if any fails, 2 if any is unreadable or malformed."


def _add_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="VKEY",
        help="trusted verifier key name+hash8+base64 (repeatable)",
    )
    parser.add_argument(
        "--key-file",
        action="append",
        default=[],
        metavar="FILE",
        help="file holding a trusted verifier key, e.g. written by note-keygen (repeatable)",
    )
    parser.add_argument("--origin", help="require this origin (the checkpoint's first line)")


def _add_checkpoint_binding(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help=f"a signed checkpoint that {what} (repeatable); needs --key or --key-file",
    )
    _add_key_args(parser)


def register(subparsers: Subparsers) -> None:
    verify = subparsers.add_parser(
        "verify",
        help="verify proofs and checkpoints offline",
        description="Verify Merkle proofs and signed checkpoints offline, with no server.",
    )
    sub = verify.add_subparsers(dest="verify_command", metavar="WHAT", required=True)

    inclusion = sub.add_parser(
        "inclusion",
        help="verify inclusion proof files",
        description="Verify RFC 9162 inclusion proof files {leaf_index, tree_size, leaf_hash, "
        "root_hash, path}. " + _EXIT_HELP,
    )
    inclusion.add_argument("files", nargs="+", metavar="FILE", help="proof file, - for stdin")
    _add_checkpoint_binding(inclusion, "every proof must be for (its size and root)")
    inclusion.set_defaults(handler=run_inclusion)

    consistency = sub.add_parser(
        "consistency",
        help="verify consistency proof files",
        description="Verify RFC 9162 consistency proof files {size1, size2, root1, root2, "
        "path}. " + _EXIT_HELP,
    )
    consistency.add_argument("files", nargs="+", metavar="FILE", help="proof file, - for stdin")
    _add_checkpoint_binding(consistency, "every proof must start or end at")
    consistency.set_defaults(handler=run_consistency)

    checkpoint = sub.add_parser(
        "checkpoint",
        help="verify a signed checkpoint (C2SP signed note)",
        description="Verify a C2SP tlog checkpoint signed as a C2SP signed note. Exit 0 when "
        "a trusted key's signature verifies, 1 when none does (or the origin differs), "
        "2 when the file or a key is malformed.",
    )
    checkpoint.add_argument("file", metavar="FILE", help="signed checkpoint, - for stdin")
    _add_key_args(checkpoint)
    checkpoint.set_defaults(handler=run_checkpoint)

    keys = command_group(subparsers, "keys", "manage keys")
    keygen = keys.add_parser(
        "note-keygen",
        help="generate an Ed25519 checkpoint (signed note) key pair",
        description="Generate an Ed25519 signed-note key pair for NAME: writes NAME.skey "
        "(PRIVATE+KEY+..., mode 0600) and NAME.vkey (name+hash8+base64). Characters other "
        "than letters, digits, '.', '_' and '-' become '_' in the file names.",
    )
    keygen.add_argument("name", metavar="NAME", help="key name, e.g. example.com/lotproof")
    keygen.add_argument("--out-dir", default=".", metavar="DIR", help="where to write the files")
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")
    keygen.set_defaults(handler=run_note_keygen)


# --- proofs ---------------------------------------------------------------------------------


def _open_bound_checkpoints(args: argparse.Namespace) -> tuple[int, list[Checkpoint]]:
    """Open every --checkpoint; (exit code so far, checkpoints), or an error exit code."""
    if not args.checkpoint:
        if args.key or args.key_file or args.origin:
            print("error: --key, --key-file and --origin need --checkpoint", file=sys.stderr)
            return EXIT_ERROR, []
        return EXIT_OK, []
    keys = _load_keys(args)
    if keys is None:
        return EXIT_ERROR, []
    checkpoints: list[Checkpoint] = []
    worst = EXIT_OK
    for name in args.checkpoint:
        shown = one_line(name)
        try:
            verified = open_checkpoint(read_input(name), keys, origin=args.origin)
        except OSError as e:
            print(f"ERROR {shown}: {describe_os_error(e)}")
            worst = EXIT_ERROR
            continue
        except MalformedInputError as e:
            print(f"ERROR {shown}: {one_line(e)}")
            worst = EXIT_ERROR
            continue
        except VerificationError as e:
            print(f"FAIL {shown}: {one_line(e)}")
            worst = max(worst, EXIT_FAIL)
            continue
        cp = verified.checkpoint
        print(f"OK {shown}: checkpoint of {one_line(cp.origin)} at size {cp.size}")
        checkpoints.append(cp)
    return worst, checkpoints


def _verify_files(
    args: argparse.Namespace, parse: type[InclusionProof] | type[ConsistencyProof]
) -> int:
    worst, checkpoints = _open_bound_checkpoints(args)
    if worst != EXIT_OK:
        return worst  # without trusted checkpoints, the proofs would prove nothing asked for
    for name in args.files:
        shown = one_line(name)
        try:
            data = read_input(name)
            proof = parse.from_json(data)
        except OSError as e:
            print(f"ERROR {shown}: {describe_os_error(e)}")
            worst = EXIT_ERROR
            continue
        except MalformedInputError as e:
            print(f"ERROR {shown}: {one_line(e)}")
            worst = EXIT_ERROR
            continue
        try:
            proof.verify()
            for cp in checkpoints:
                check_against_checkpoint(proof, cp)
        except VerificationError as e:
            print(f"FAIL {shown}: {one_line(e)}")
            worst = max(worst, EXIT_FAIL)
            continue
        except MalformedInputError as e:
            print(f"ERROR {shown}: {one_line(e)}")
            worst = EXIT_ERROR
            continue
        print(f"OK {shown}")
    sys.stdout.flush()
    return worst


def run_inclusion(args: argparse.Namespace) -> int:
    return _verify_files(args, InclusionProof)


def run_consistency(args: argparse.Namespace) -> int:
    return _verify_files(args, ConsistencyProof)


# --- checkpoints ----------------------------------------------------------------------------


def _load_keys(args: argparse.Namespace) -> list[NoteVerifier] | None:
    keys: list[NoteVerifier] = []
    for i, text in enumerate(args.key, 1):
        try:
            keys.append(NoteVerifier.from_string(text))
        except MalformedInputError as e:
            print(f"error: --key #{i}: {one_line(e)}", file=sys.stderr)
            return None
    for name in args.key_file:
        try:
            data = read_input(name, 64 * 1024).decode("utf-8")
            keys.append(NoteVerifier.from_string(data))
        except OSError as e:
            print(f"error: --key-file {one_line(name)}: {describe_os_error(e)}", file=sys.stderr)
            return None
        except UnicodeDecodeError:
            print(f"error: --key-file {one_line(name)}: not UTF-8 text", file=sys.stderr)
            return None
        except MalformedInputError as e:
            print(f"error: --key-file {one_line(name)}: {one_line(e)}", file=sys.stderr)
            return None
    if not keys:
        print("error: give at least one trusted key with --key or --key-file", file=sys.stderr)
        return None
    return keys


def run_checkpoint(args: argparse.Namespace) -> int:
    keys = _load_keys(args)
    if keys is None:
        return EXIT_ERROR
    shown = one_line(args.file)
    try:
        verified = open_checkpoint(read_input(args.file), keys, origin=args.origin)
    except OSError as e:
        print(f"ERROR {shown}: {describe_os_error(e)}")
        return EXIT_ERROR
    except MalformedInputError as e:
        print(f"ERROR {shown}: {one_line(e)}")
        return EXIT_ERROR
    except VerificationError as e:
        print(f"FAIL {shown}: {one_line(e)}")
        return EXIT_FAIL
    cp = verified.checkpoint
    print(f"OK {shown}")
    print(f"origin: {one_line(cp.origin)}")
    print(f"tree size: {cp.size}")
    print(f"root hash: {cp.root.hex()}")
    for ext in cp.extensions:
        print(f"extension: {one_line(ext)}")
    print(f"verified by: {', '.join(one_line(k) for k in verified.verified_by)}")
    return EXIT_OK


# --- keys -----------------------------------------------------------------------------------


def key_file_stem(name: str) -> str:
    """A file name for a key name: anything but letters, digits, ``.``, ``_``, ``-`` -> ``_``."""
    stem = re.sub(r"[^\w.-]", "_", name)
    return "_" + stem if stem.startswith(".") else stem


def _write_secret(path: Path, text: str, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def run_note_keygen(args: argparse.Namespace) -> int:
    try:
        check_key_name(args.name)
    except LedgerError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    out_dir = Path(args.out_dir)
    stem = key_file_stem(args.name)
    skey_path, vkey_path = out_dir / f"{stem}.skey", out_dir / f"{stem}.vkey"
    if not args.force:
        for path in (skey_path, vkey_path):
            if path.exists():
                print(f"error: {one_line(path)} exists; use --force to replace it", file=sys.stderr)
                return EXIT_ERROR
    signer = NoteSigner.generate(args.name)
    vkey = signer.verifier().to_string()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_secret(skey_path, signer.to_string() + "\n", args.force)
        vkey_path.write_text(vkey + "\n", encoding="utf-8")
    except OSError as e:
        print(f"error: cannot write key files: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {one_line(skey_path)} (signer key, keep it secret; mode 0600)")
    print(f"wrote {one_line(vkey_path)} (verifier key, give it to auditors)")
    print(vkey)
    return EXIT_OK
