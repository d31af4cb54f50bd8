"""Shared set-up for the CLI tests that run commands against a real ``lotproof serve``.

A module-scoped fixture writes each party's key file (and the consortium admin's), starts
one server (uvicorn on 127.0.0.1, SQLite, no chain) with ``serve_records``, loads the
scenario's records into it, and hands the tests a URL; commands then run in-process through
``scripts.cli.main`` (``run_cli``) over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.keyfile import FAST_FOR_TESTS, KeyMaterial, write_key_file
from ledger.records import SignedRecord, SigningKey
from ledger.trade.scenario import ADMIN_ID, Scenario
from scripts.cli import main
from scripts.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery staple"


def write_keys(tmp: Path, scn: Scenario, parties: Mapping[str, Any]) -> dict[str, str]:
    """Key files (passphrase ``PASS``, in ``tmp/pass``) for each party and for ``admin``."""
    (tmp / "pass").write_text(PASS)
    keys: dict[str, str] = {}
    for name, party in parties.items():
        path = tmp / f"{name}.key"
        material = KeyMaterial(SigningKey(party.key.seed), party.uscc)
        write_key_file(path, material, PASS, strength=FAST_FOR_TESTS)
        keys[name] = str(path)
    admin = tmp / "admin.key"
    write_key_file(
        admin, KeyMaterial(SigningKey(scn.admin.seed), ADMIN_ID), PASS, strength=FAST_FOR_TESTS
    )
    keys["admin"] = str(admin)
    return keys


def key_args(url: str, tmp: Path, key_file: str) -> list[str]:
    """The ``--url --key-file --passphrase-file`` options of a command run as one party."""
    return ["--url", url, "--key-file", key_file, "--passphrase-file", str(tmp / "pass")]


@contextmanager
def serve_records(
    tmp: Path, scn: Scenario, records: Sequence[SignedRecord], origin: str
) -> Iterator[ServeProcess]:
    """A ``lotproof serve --no-chain`` in ``tmp/data`` holding ``records``; stopped on exit."""
    admin_file = tmp / "admins.json"
    admin_file.write_text(json.dumps({k: v.hex() for k, v in scn.admin_keys.items()}))
    with ServeProcess(
        tmp / "data",
        admin_file,
        args=["--no-chain", "--origin", origin],
        log_path=tmp / "server.log",
    ) as server:
        answer = httpx.post(
            server.url + "/v1/records",
            content=json.dumps({"records": [r.to_dict() for r in records]}),
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        yield server


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``lotproof ARGV`` in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
