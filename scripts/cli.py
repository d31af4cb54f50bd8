"""The ``lotproof`` command line: ``main(argv=None) -> int``.

Commands live in modules ``scripts/cli_<name>.py`` that define ``register(subparsers)``;
``build_parser`` imports every such module (sorted by name) and lets it add its
subcommands. A leaf command sets ``handler=<function(args) -> int>`` with ``set_defaults``.
Two modules may share a command group (``keys``...) through ``command_group``.

Convention: a module named after a command (``cli_verify`` for ``verify``, ``cli_audit``
for ``audit``) owns that whole command, and ``lotproof <command> ...`` loads that module
alone; other commands load every module. A command module should import heavy
dependencies (web3, fastapi) inside its handlers; a module that fails to import is
reported on stderr and skipped.

Exit codes, for every command: 0 verified / done, 1 verification failed, 2 malformed input,
unreadable file, bad usage, or any other error. No input produces a traceback: ``main``
maps every exception to a one-line ``error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError, MalformedInputError, VerificationError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2
MAX_INPUT_BYTES = 1 << 20
"""Largest file a verify command reads (1 MiB); proofs and checkpoints are a few KB."""

Subparsers = Any
"""argparse's private ``_SubParsersAction`` (what ``add_subparsers`` returns)."""
Registrar = Callable[[Subparsers], None]

_GROUP_ATTR = "_lotproof_subparsers"


def one_line(value: object) -> str:
    """Text safe to print on one line: control characters and bad code points escaped."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(
        ch if ch >= " " and ch != "\x7f" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def read_input(name: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a file (``-`` is stdin), refusing more than ``limit`` bytes.

    Raises ``OSError`` if it cannot be read, ``MalformedInputError`` if it is too large.
    """
    if name == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        with Path(name).open("rb") as f:
            data = f.read(limit + 1)
    if len(data) > limit:
        raise MalformedInputError(f"file is larger than {limit} bytes")
    return data


def describe_os_error(error: OSError) -> str:
    """``cannot read: No such file or directory`` and the like."""
    return f"cannot read: {error.strerror or type(error).__name__}"


def command_group(subparsers: Subparsers, name: str, help: str) -> Subparsers:
    """The subcommand group ``name`` (created on first use), for modules that share it."""
    existing = subparsers.choices.get(name)
    if existing is not None:
        group = getattr(existing, _GROUP_ATTR, None)
        if group is None:  # created with add_parser by another module: reuse its subcommands
            for action in existing._actions:
                if isinstance(action, argparse._SubParsersAction):
                    group = action
                    break
            else:
                group = existing.add_subparsers(
                    dest=f"{name}_command", metavar="COMMAND", required=True
                )
            setattr(existing, _GROUP_ATTR, group)
        return group
    parser = subparsers.add_parser(name, help=help, description=help)
    group = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
    setattr(parser, _GROUP_ATTR, group)
    return group


def _registrars(command: str | None = None) -> list[Registrar]:
    """Every command module's ``register``; only ``scripts/cli_<command>.py`` if it exists."""
    import scripts

    names = sorted(m.name for m in pkgutil.iter_modules(scripts.__path__))
    own = f"cli_{command.replace('-', '_')}" if command else None
    if own in names:
        names = [own]
    found: list[Registrar] = []
    for name in names:
        if not name.startswith("cli_"):
            continue
        try:
            module = importlib.import_module(f"scripts.{name}")
        except Exception as e:  # one broken command module must not take the others down
            print(
                f"warning: commands of scripts.{name} are unavailable: "
                f"{type(e).__name__}: {one_line(e)}",
                file=sys.stderr,
            )
            continue
        register = getattr(module, "register", None)
        if callable(register):
            found.append(register)
    return found


def build_parser(
    registrars: Sequence[Registrar] | None = None, command: str | None = None
) -> argparse.ArgumentParser:
    """The parser: every ``scripts/cli_*.py`` module's commands, or those given.

    With ``command``, only ``scripts/cli_<command>.py`` is loaded when that module exists
    (so ``lotproof verify`` never imports the server or the trade rules).
    """
    parser = argparse.ArgumentParser(
        prog="lotproof",
        description="lotproof: a verifiable traceability and audit ledger for "
        "pharmaceutical B2B trade. Exit codes: 0 verified, 1 verification failed, "
        "2 malformed input or usage error.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars(command) if registrars is None else registrars:
        register(subparsers)
    return parser


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(one_line(code), file=sys.stderr)
    return EXIT_ERROR


def _forgiving_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                reconfigure(errors="backslashreplace")


def main(
    argv: Sequence[str] | None = None, *, registrars: Sequence[Registrar] | None = None
) -> int:
    """Run one ``lotproof`` command; return its exit code (``registrars``: see build_parser)."""
    _forgiving_streams()
    try:
        args_list = list(sys.argv[1:] if argv is None else argv)
        command = next((a for a in args_list[:1] if not a.startswith("-")), None)
        parser = build_parser(registrars, command)
        try:
            args = parser.parse_args(args_list)
        except SystemExit as e:  # usage errors (2) and --help (0)
            return _exit_code(e.code)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_usage(sys.stderr)
            return EXIT_ERROR
        return int(handler(args))
    except SystemExit as e:
        return _exit_code(e.code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `lotproof verify ... | head`: stop quietly
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except VerificationError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_FAIL
    except LedgerError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # the last resort: never a traceback
        print(f"error: {type(e).__name__}: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
