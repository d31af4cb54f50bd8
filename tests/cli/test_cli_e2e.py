"""The CLI against a real ``lotproof serve`` process (uvicorn on 127.0.0.1, embedded chain).

The story: participants (key files made from the test scenario's keys) are enrolled and
licensed; the MAH registers a batch; the distributor orders with escrow and deposits; the
MAH ships; the distributor accepts (rejecting two) and releases; the distributor's trace is
written as a bundle and verified by `audit verify`; a tampered copy fails; the monitor
follows the log; reconcile finds chain and ledger in agreement.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from anchors.embedded import DEV_PRIVATE_KEYS
from ledger.keyfile import FAST_FOR_TESTS, KeyMaterial, write_key_file
from ledger.records import SigningKey
from ledger.trade import codes
from ledger.trade.scenario import Scenario
from scripts.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery staple"


def lotproof(
    *args: str, env: dict[str, str], check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check is not None:
        assert result.returncode == check, (args, result.stdout, result.stderr)
    return result


def _evm(i: int) -> str:
    from eth_account import Account

    return str(Account.from_key(DEV_PRIVATE_KEYS[i]).address).lower()


@pytest.fixture
def served(tmp_path: Path):
    scn = Scenario("cli-e2e", start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    _, rev_rec = scn.new_reviewer()
    mah = dataclasses.replace(
        scn.party("某制药有限公司", ["mah", "manufacturer"]), evm_address=_evm(3)
    )
    dist = dataclasses.replace(scn.party("某医药有限公司", ["distributor"]), evm_address=_evm(4))
    records = [rev_rec]
    scope = [codes.CHEMICAL, codes.BIOLOGICS, codes.COLD_CHAIN]
    for p in (mah, dist):
        records += scn.onboard(p, scope)
    records.append(scn.product(mah, "8612345", "阿莫西林胶囊"))
    (tmp_path / "setup.json").write_text(json.dumps({"records": [r.to_dict() for r in records]}))
    (tmp_path / "pass").write_text(PASS)
    keys = {}
    for name, party, dev in (("mah", mah, 3), ("dist", dist, 4)):
        path = tmp_path / f"{name}.key"
        material = KeyMaterial(
            SigningKey(party.key.seed), party.uscc, DEV_PRIVATE_KEYS[dev], _evm(dev)[2:]
        )
        write_key_file(path, material, PASS, strength=FAST_FOR_TESTS)
        keys[name] = str(path)
    admin_file = tmp_path / "admins.json"
    admin_file.write_text(json.dumps({k: v.hex() for k, v in scn.admin_keys.items()}))
    with ServeProcess(
        tmp_path / "data",
        admin_file,
        args=["--origin", "lotproof.e2e/log"],
        log_path=tmp_path / "server.log",
    ) as server:
        env = {**os.environ, "LOTPROOF_URL": server.url, "PYTHONPATH": str(ROOT)}
        yield {
            "url": server.url,
            "env": env,
            "keys": keys,
            "tmp": tmp_path,
            "mah": mah,
            "dist": dist,
        }


def test_participant_and_auditor_story(served) -> None:
    env, keys, tmp = served["env"], served["keys"], served["tmp"]
    mah = served["mah"]
    pw = ["--passphrase-file", str(tmp / "pass")]
    lotproof("submit", str(tmp / "setup.json"), env=env)
    out = lotproof(
        "batch",
        "register",
        "--key-file",
        keys["mah"],
        *pw,
        "--product",
        "8612345",
        "--lot",
        "CLI001",
        "--mfg-date",
        "2026-10-01",
        "--expiry-date",
        "2028-10-01",
        "--quantity",
        "500",
        "--report-sha256",
        "ab" * 32,
        "--json",
        env=env,
    )
    batch_id = json.loads(out.stdout)["record"]["record"]["id"]
    lotproof(
        "order",
        "create",
        "--key-file",
        keys["dist"],
        *pw,
        "--seller",
        mah.uscc,
        "--line",
        "8612345:100:1250",
        "--id",
        "order-cli-1",
        "--escrow",
        "--seller-address",
        mah.evm_address,
        "--units-per-fen",
        "1000",
        env=env,
    )
    # The escrow enrols accounts in the background: retry the deposit briefly.
    for _ in range(20):
        dep = lotproof(
            "escrow",
            "deposit",
            "--key-file",
            keys["dist"],
            *pw,
            "--order",
            "order-cli-1",
            env=env,
            check=None,
        )
        if dep.returncode == 0:
            break
        time.sleep(0.25)
    assert dep.returncode == 0, dep.stderr
    ship = lotproof(
        "ship",
        "--key-file",
        keys["mah"],
        *pw,
        "--order",
        "order-cli-1",
        "--line",
        "0:CLI001:100:2028-10-01",
        "--json",
        env=env,
    )
    shipment_id = json.loads(ship.stdout)["record"]["record"]["id"]
    acc = lotproof(
        "accept",
        "--key-file",
        keys["dist"],
        *pw,
        "--shipment",
        shipment_id,
        "--reject",
        "0:2:damaged",
        "--release",
        env=env,
    )
    assert "released 122500000 to the seller" in acc.stdout  # 98 x 1250 fen x 1000
    status = json.loads(
        lotproof(
            "escrow",
            "status",
            "--key-file",
            keys["dist"],
            *pw,
            "--order",
            "order-cli-1",
            "--json",
            env=env,
        ).stdout
    )
    assert status["chain"]["state"] == "released" and status["amount_due_fen"] == 98 * 1250
    # Bad input: one line, exit 2.
    bad = lotproof(
        "order",
        "create",
        "--key-file",
        keys["dist"],
        *pw,
        "--seller",
        mah.uscc,
        "--line",
        "8612345:1.5:10",
        env=env,
        check=2,
    )
    assert bad.stderr.startswith("error:") and bad.stderr.count("\n") == 1
    wrong = lotproof(
        "alerts",
        "--key-file",
        keys["dist"],
        "--passphrase-file",
        "/dev/null",
        env={**env, "LOTPROOF_PASSPHRASE": ""},
        check=2,
    )
    assert "passphrase" in wrong.stderr
    # The trace as a bundle, verified offline; a tampered copy fails.
    bundle = tmp / "trace.json"
    lotproof(
        "trace",
        "reverse",
        "--key-file",
        keys["dist"],
        *pw,
        "--batch",
        batch_id,
        "--out",
        str(bundle),
        env=env,
    )
    vkey = httpx.get(served["url"] + "/v1/log").json()["checkpoint_key"]
    ok = lotproof("audit", "verify", str(bundle), "--key", vkey, env=env)
    assert "VERIFIED" in ok.stdout
    doc = json.loads(bundle.read_text())
    for e in doc["entries"]:
        if e.get("record", {}).get("record", {}).get("type") == "acceptance":
            e["record"]["record"]["body"]["lines"][0]["accepted"] = 100
    (tmp / "tampered.json").write_text(json.dumps(doc))
    bad = lotproof(
        "audit", "verify", str(tmp / "tampered.json"), "--key", vkey, "--json", env=env, check=1
    )
    assert json.loads(bad.stdout)["ok"] is False
    # A bundle of the old format is refused by name (exit 2), not half-checked.
    doc = json.loads(bundle.read_text())
    assert doc["version"] == 2 and doc["inclusion_proof"] is not None
    doc["version"] = 1
    (tmp / "v1.json").write_text(json.dumps(doc))
    old = lotproof("audit", "verify", str(tmp / "v1.json"), "--key", vkey, env=env, check=2)
    assert "version 1 is no longer read" in old.stderr and "Traceback" not in old.stderr
    lotproof("audit", "verify", str(tmp / "setup.json"), "--key", vkey, env=env, check=2)
    # The monitor follows the log, and keeps state only after checking.
    state = tmp / "monitor.json"
    monitor = ["audit", "monitor", "--url", served["url"], "--state", str(state), "--key", vkey]
    lotproof(*monitor, "--once", env=env)
    first = json.loads(state.read_text())
    lotproof("alerts", "--key-file", keys["dist"], *pw, env=env)
    lotproof(*monitor, "--max-polls", "2", "--interval", "0.1", env=env)
    # A forged state (another root at the same size) is a split view: exit 1, state kept.
    forged = dict(first, root_hash="00" * 32)
    state.write_text(json.dumps(forged))
    lotproof(*monitor, "--once", env=env, check=1)
    assert json.loads(state.read_text())["root_hash"] == "00" * 32
