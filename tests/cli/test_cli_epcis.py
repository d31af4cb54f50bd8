"""``lotproof export epcis`` against a real ``lotproof serve`` (uvicorn on 127.0.0.1, SQLite,
no chain) holding the test scenario's story; commands run in this process through
``scripts.cli.main`` (real HTTP), one in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cli_support import ROOT, key_args, run_cli, serve_records, write_keys

from anchors.node import free_port
from ledger.trade.scenario import INSULIN, INSULIN_LOT, Scenario, trade_story


@dataclass
class Served:
    url: str
    tmp: Path
    keys: dict[str, str]
    ids: dict[str, str]

    def as_(self, who: str) -> list[str]:
        return key_args(self.url, self.tmp, self.keys[who])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli-epcis")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    story = trade_story(Scenario("cli-epcis", start=start))
    scn = story.scn
    keys = write_keys(tmp, scn, {n: story.parties[n] for n in ("hospital", "arbiter")})
    with serve_records(tmp, scn, story.records, "lotproof.cli-epcis/log") as server:
        yield Served(server.url, tmp, keys, dict(story.ids))


def test_export_to_a_file_and_to_stdout(served: Served, capsys, tmp_path: Path) -> None:
    out = tmp_path / "batch.jsonld"
    code, text, err = run_cli(
        capsys, "export", "epcis", *served.as_("admin"), "--batch", served.ids["batch"],
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    written = out.read_bytes()
    doc = json.loads(written)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    events = doc["epcisBody"]["eventList"]
    assert {e["lotproof:recordId"] for e in events} == set(served.ids.values())
    assert text == f"wrote {len(events)} EPCIS events ({len(written)} bytes) to {out}\n"
    # the same batch by product and lot, to stdout: the same bytes
    code, text, err = run_cli(
        capsys, "export", "epcis", *served.as_("admin"), "--product", INSULIN, "--lot", INSULIN_LOT
    )
    assert code == 0, err
    assert text.encode() == written
    code, text, err = run_cli(
        capsys, "export", "epcis", *served.as_("admin"), "--batch", served.ids["batch"],
        "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(text) == {"out": str(out), "events": len(events), "bytes": len(written)}


def test_participant_exports_its_own_records(served: Served, capsys) -> None:
    size = str(httpx.get(served.url + "/v1/log").json()["tree_size"])
    code, text, err = run_cli(
        capsys, "export", "epcis", *served.as_("hospital"), "--from", "0", "--to", size
    )
    assert code == 0, err
    ids = {e["lotproof:recordId"] for e in json.loads(text)["epcisBody"]["eventList"]}
    assert served.ids["ship3"] in ids and served.ids["return"] in ids
    assert served.ids["batch"] not in ids and served.ids["ship1"] not in ids


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--batch", "b-1", "--from", "0", "--to", "3"], "either a batch"),
        ([], "either a batch"),
        (["--product", INSULIN], "--product and --lot"),
        (["--from", "4", "--to", "2"], "--from < --to"),
        (["--from", "1"], "--from and --to"),
    ],
)
def test_bad_selection_is_one_line_exit_2_without_a_server(
    served: Served, capsys, argv: list[str], needle: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, text, err = run_cli(capsys, "export", "epcis", *served.as_("admin"), *argv, "--url", dead)
    assert code == 2
    assert text == "" and err.startswith("error: ") and err.count("\n") == 1
    assert needle in err and "cannot reach" not in err


def test_server_refusals_are_one_line_exit_2(served: Served, capsys, tmp_path: Path) -> None:
    out = tmp_path / "none.jsonld"
    cases = [
        ("admin", ["--batch", "no-such-batch"], "no batch no-such-batch"),
        ("admin", ["--from", "0", "--to", "100000"], "at most"),
        ("arbiter", ["--batch", served.ids["batch"]], "party to no record"),
    ]
    for who, argv, needle in cases:
        export = ["export", "epcis", *served.as_(who), *argv, "--out", str(out)]
        code, text, err = run_cli(capsys, *export)
        assert code == 2, (argv, text, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
        assert not out.exists()
    dead = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_cli(
        capsys, "export", "epcis", *served.as_("admin"), "--batch", "b-1", "--url", dead
    )
    assert code == 2 and "cannot reach" in err


def test_child_process(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "child.jsonld"
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "export", "epcis", *served.as_("admin"),
         "--batch", served.ids["batch"], "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_bytes())["epcisBody"]["eventList"]
