"""The trade commands of the CLI (scripts/cli_trade.py) against a real ``lotproof serve``.

One server per module (uvicorn on 127.0.0.1, SQLite, no chain) holds the test scenario's
story: participants enrolled and licensed, products, orders, shipments, acceptances. The
commands run in this process through ``scripts.cli.main`` (real HTTP to the server), one in
a child process. For each command: an accepted case (the record is on the log), a refused
case (exit 1, the rule id on one line, the log unchanged) and a malformed case (exit 2, one
line naming the field, nothing sent: the URL given points at a port where nobody listens).
"""

from __future__ import annotations

import hashlib
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
from ledger.keyfile import read_public_info
from ledger.trade import codes
from ledger.trade.scenario import AMOXICILLIN, Scenario, trade_story

AMX_LOT = "AMX2611"  # amoxicillin sold by the MAH to dist1 (no traceability codes)
AMX_HOLD = "AMX2612"  # amoxicillin lot for the recall test
WIDE = [codes.CHEMICAL, codes.BIOLOGICS, codes.COLD_CHAIN, codes.CHINESE_PATENT]


@dataclass
class Served:
    url: str
    tmp: Path
    keys: dict[str, str]
    uscc: dict[str, str]
    names: dict[str, str]
    ids: dict[str, str]
    insulin_codes: list[str]  # codes the hospital accepted in story shipment ship5

    def size(self) -> int:
        return int(httpx.get(self.url + "/v1/log").json()["tree_size"])

    def as_(self, who: str) -> list[str]:
        return key_args(self.url, self.tmp, self.keys[who])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli-trade")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    story = trade_story(Scenario("cli-trade", start=start))
    scn, parties, records = story.scn, dict(story.parties), list(story.records)
    keyholder = scn.party("某大药房连锁有限公司", ["pharmacy"])
    parties["keyholder"] = keyholder
    records += scn.onboard(keyholder, WIDE)
    mah, dist1, dist2 = parties["mah"], parties["dist1"], parties["dist2"]
    records.append(scn.batch(mah, AMOXICILLIN, AMX_LOT, 500))
    records.append(scn.batch(mah, AMOXICILLIN, AMX_HOLD, 300))
    order_a = scn.order(dist1, mah, [(AMOXICILLIN, 100, 150)])
    ship_a = scn.ship(order_a, [(0, AMX_LOT, 100)])
    order_c = scn.order(dist2, mah, [(AMOXICILLIN, 10, 150)])
    records += [order_a, ship_a, scn.accept(ship_a), order_c]
    ids = dict(story.ids, order_a=order_a.record.id, ship_a=ship_a.record.id)
    ids["order_c"] = order_c.record.id
    insulin_codes = list(scn.shipments[story["ship5"]]["units"][0])

    keys = write_keys(tmp, scn, parties)
    with serve_records(tmp, scn, records, "lotproof.cli-trade/log") as server:
        yield Served(
            url=server.url,
            tmp=tmp,
            keys=keys,
            uscc={n: p.uscc for n, p in parties.items()},
            names={n: p.name for n, p in parties.items()},
            ids=ids,
            insulin_codes=insulin_codes,
        )


def accepted(served: Served, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """Run with --json; exit 0 and exactly one new leaf holding the printed record."""
    before = served.size()
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 0, (argv, out, err)
    answer = json.loads(out)
    assert answer["receipts"][0]["leaf_index"] == before
    assert served.size() == before + 1
    return answer


def refused(served: Served, capsys: pytest.CaptureFixture[str], rule: str, *argv: str) -> str:
    """Exit 1 with the rule id on one line; nothing written."""
    before = served.size()
    code, out, err = run_cli(capsys, *argv)
    assert code == 1, (argv, out, err)
    assert err.startswith(f"error: {rule}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert served.size() == before
    return err


def malformed(served: Served, capsys: pytest.CaptureFixture[str], field: str, *argv: str) -> str:
    """Exit 2 with one line naming the field; nothing sent (the URL answers nothing)."""
    before = served.size()
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = run_cli(capsys, *argv, "--url", dead)
    assert code == 2, (argv, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert field in err and "cannot reach" not in err, err
    assert served.size() == before
    return err


# --- licences ------------------------------------------------------------------------------------


def test_licence_record_list_and_withdraw(served: Served, capsys, tmp_path: Path) -> None:
    scan = tmp_path / "licence.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned licence of dist2")
    holder, name = served.uscc["dist2"], served.names["dist2"]
    licence = [
        "licence",
        "record",
        "--holder",
        holder,
        "--kind",
        codes.DISTRIBUTION_LICENCE,
        "--number",
        "粤AA7654321",
        "--scope",
        f"{codes.CHEMICAL},{codes.BIOLOGICS}",
        "--authority",
        "广东省药品监督管理局",
        "--valid-from",
        "2026-01-01",
        "--document",
        str(scan),
        "--verdict",
        "approved",
    ]
    answer = accepted(
        served,
        capsys,
        *licence,
        *served.as_("reviewer"),
        "--holder-name",
        name,
        "--valid-to",
        "2031-01-01",
    )
    body = answer["record"]["record"]["body"]
    assert answer["record"]["record"]["type"] == "qualification"
    assert body["document_sha256"] == hashlib.sha256(scan.read_bytes()).hexdigest()
    assert body["scope"] == sorted([codes.CHEMICAL, codes.BIOLOGICS])
    qual_id = answer["record"]["record"]["id"]

    # The readable form names the licence and its holder.
    code, out, err = run_cli(
        capsys,
        *licence,
        *served.as_("reviewer"),
        "--holder-name",
        name,
        "--valid-to",
        "none",
        "--number",
        "粤AA7654322",
    )
    assert code == 0, err
    assert "药品经营许可证" in out and "粤AA7654322" in out and "no end date" in out

    # Refused: the holder name is not the enrolled one; a distributor cannot record licences.
    refused(
        served,
        capsys,
        "QUAL-HOLDER-NAME",
        *licence,
        *served.as_("reviewer"),
        "--holder-name",
        "别的公司",
        "--valid-to",
        "2031-01-01",
    )
    refused(
        served,
        capsys,
        "ROLE-FORBIDDEN",
        *licence,
        *served.as_("dist1"),
        "--holder-name",
        name,
        "--valid-to",
        "2031-01-01",
    )
    # Malformed: ends before it starts; a number of the wrong format; a float-free scope.
    malformed(
        served,
        capsys,
        "$.valid_to",
        *licence,
        *served.as_("reviewer"),
        "--holder-name",
        name,
        "--valid-to",
        "2025-12-31",
    )
    malformed(
        served,
        capsys,
        "粤AA76",
        *licence,
        *served.as_("reviewer"),
        "--holder-name",
        name,
        "--valid-to",
        "2031-01-01",
        "--number",
        "粤AA76",
    )
    malformed(
        served,
        capsys,
        "--document",
        "licence",
        "record",
        "--holder",
        holder,
        "--holder-name",
        name,
        "--kind",
        codes.BUSINESS_LICENCE,
        "--authority",
        "x",
        "--valid-from",
        "2026-01-01",
        "--valid-to",
        "none",
        "--verdict",
        "approved",
        *served.as_("reviewer")[2:],
    )

    # The holder lists its licences; the bundle verifies offline.
    bundle = tmp_path / "licences.json"
    code, out, err = run_cli(
        capsys, "licence", "list", *served.as_("dist2"), "--out", str(bundle), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    mine = {q["record_id"]: q for q in summary["licences"]}
    assert mine[qual_id]["status"] == "valid" and mine[qual_id]["number"] == "粤AA7654321"
    assert summary["holder"] == holder
    vkey = httpx.get(served.url + "/v1/log").json()["checkpoint_key"]
    code, out, err = run_cli(capsys, "audit", "verify", str(bundle), "--key", vkey)
    assert code == 0 and "VERIFIED" in out, (out, err)
    doc = json.loads(bundle.read_text())
    leaves = {e["record"]["record"]["id"] for e in doc["entries"] if "record" in e}
    assert qual_id in leaves

    # Status on a day before it started; a reviewer reads anyone's; another party may not.
    code, out, err = run_cli(
        capsys, "licence", "list", holder, "--on", "2025-06-01", *served.as_("reviewer")
    )
    assert code == 0, err
    assert f"not_yet_valid {codes.LICENCE_NAMES_ZH[codes.DISTRIBUTION_LICENCE]}" in out
    code, out, err = run_cli(capsys, "licence", "list", holder, *served.as_("dist1"))
    assert code == 2 and "may read only its own licences" in err and err.count("\n") == 1
    malformed(
        served, capsys, "--on", "licence", "list", "--on", "2026-13-01", *served.as_("dist2")[2:]
    )
    malformed(served, capsys, "holder", "licence", "list", "9144", *served.as_("dist2")[2:])

    # The reviewer withdraws it (a correction); the list shows it withdrawn.
    answer = accepted(
        served, capsys, "correct", qual_id, "--reason", "证照扫描件有误", *served.as_("reviewer")
    )
    assert answer["record"]["record"]["supersedes"] == qual_id
    code, out, _ = run_cli(capsys, "licence", "list", *served.as_("dist2"), "--json")
    listed = {q["record_id"]: q for q in json.loads(out)["summary"]["licences"]}
    assert listed[qual_id]["status"] == "withdrawn"
    assert listed[qual_id]["withdrawn_by"] == answer["record"]["record"]["id"]


# --- products ------------------------------------------------------------------------------------


def test_product_register(served: Served, capsys) -> None:
    product = [
        "product",
        "register",
        "--name",
        "头孢克肟胶囊",
        "--dosage-form",
        "胶囊剂",
        "--strength",
        "0.1g",
        "--pack-size",
        "12粒/盒",
        "--approval-number",
        "国药准字H20193456",
        "--category",
        codes.CHEMICAL,
        "--storage-min",
        "2",
        "--storage-max",
        "25",
    ]
    answer = accepted(served, capsys, *product, "--code", "8600777", *served.as_("mah"))
    body = answer["record"]["record"]["body"]
    assert body["mah"] == served.uscc["mah"] and body["special_class"] is None
    assert (body["storage_min_tenths_c"], body["storage_max_tenths_c"]) == (20, 250)
    code, out, err = run_cli(
        capsys,
        *product,
        "--code",
        "8600778",
        "--storage-min",
        "-2.5",
        "--storage-max",
        "8",
        *served.as_("mah"),
    )
    assert code == 0, err
    assert "stored at -2.5 to 8 °C (cold chain)" in out and "8600778" in out

    refused(served, capsys, "PRODUCT-DUPLICATE", *product, "--code", "8600777", *served.as_("mah"))
    refused(served, capsys, "ROLE-FORBIDDEN", *product, "--code", "8600779", *served.as_("dist1"))
    malformed(
        served,
        capsys,
        "--storage-max",
        *product,
        "--code",
        "8600779",
        "--storage-max",
        "2.55",
        *served.as_("mah")[2:],
    )
    malformed(
        served,
        capsys,
        "$.category",
        *product,
        "--code",
        "8600779",
        "--category",
        codes.BIOLOGICS,
        *served.as_("mah")[2:],
    )
    malformed(served, capsys, "$.code", *product, "--code", "86007", *served.as_("mah")[2:])


# --- invoices ------------------------------------------------------------------------------------


def test_invoice_issue(served: Served, capsys) -> None:
    order = served.ids["order_a"]
    line = f"{AMOXICILLIN}:{AMX_LOT}:100:15000"
    answer = accepted(
        served,
        capsys,
        "invoice",
        "issue",
        "--number",
        "44001234",
        "--order",
        order,
        "--line",
        line,
        *served.as_("mah"),
    )
    body = answer["record"]["record"]["body"]
    assert body["buyer"] == served.uscc["dist1"]  # taken from the order on the ledger
    assert body["seller"] == served.uscc["mah"] and body["total_fen"] == 15000
    code, out, err = run_cli(
        capsys,
        "invoice",
        "issue",
        "--number",
        "44001235",
        "--buyer",
        served.uscc["dist1"],
        "--line",
        f"{AMOXICILLIN}:{AMX_LOT}:10:1501",
        "--line",
        f"{AMOXICILLIN}:{AMX_LOT}:5:750",
        *served.as_("mah"),
    )
    assert code == 0, err
    assert "total 2251 fen (¥22.51)" in out and "2 lines, 15 units" in out

    refused(
        served,
        capsys,
        "INVOICE-ORDER",
        "invoice",
        "issue",
        "--number",
        "44001236",
        "--order",
        order,
        "--buyer",
        served.uscc["dist2"],
        "--line",
        line,
        *served.as_("mah"),
    )
    refused(
        served,
        capsys,
        "INVOICE-UPSTREAM",
        "invoice",
        "issue",
        "--number",
        "44001237",
        "--buyer",
        served.uscc["dist2"],
        "--line",
        line,
        "--upstream",
        "no-such-invoice",
        *served.as_("dist1"),
    )
    # --order naming a record that is not an order: exit 2, nothing written.
    before = served.size()
    code, _, err = run_cli(
        capsys,
        "invoice",
        "issue",
        "--number",
        "44001239",
        "--order",
        served.ids["ship_a"],
        "--line",
        line,
        *served.as_("mah"),
    )
    assert code == 2 and f"record {served.ids['ship_a']} is not an order" in err, err
    assert served.size() == before
    for bad, field in (
        (f"{AMOXICILLIN}:{AMX_LOT}:100:150.00", "amount (fen)"),
        (f"{AMOXICILLIN}:{AMX_LOT}:1e2:15000", "quantity"),
        (f"{AMOXICILLIN}:{AMX_LOT}:100", "PRODUCT:LOT:QUANTITY:AMOUNT_FEN"),
        (f"86003:{AMX_LOT}:100:15000", "$.lines[0].product"),
    ):
        malformed(
            served,
            capsys,
            field,
            "invoice",
            "issue",
            "--number",
            "44001238",
            "--order",
            order,
            "--line",
            bad,
            *served.as_("mah")[2:],
        )


# --- returns -------------------------------------------------------------------------------------


def test_return(served: Served, capsys, tmp_path: Path) -> None:
    shipment = served.ids["ship_a"]
    answer = accepted(
        served,
        capsys,
        "return",
        "--shipment",
        shipment,
        "--line",
        "0:5",
        "--reason",
        "包装破损",
        *served.as_("dist1"),
    )
    assert answer["record"]["record"]["body"]["lines"] == [{"line": 0, "quantity": 5}]
    # A coded lot goes back with its codes (read from a file).
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text("\n".join(served.insulin_codes[:2]) + "\n")
    ship5 = served.ids["ship5"]
    code, out, err = run_cli(
        capsys,
        "return",
        "--shipment",
        ship5,
        "--line",
        "0:2",
        "--unit-codes-file",
        f"0:{codes_file}",
        "--reason",
        "近效期",
        *served.as_("hospital"),
    )
    assert code == 0, err
    assert f"return of 2 units from shipment {ship5} recorded" in out

    refused(
        served,
        capsys,
        "RETURN-EXCEEDS",
        "return",
        "--shipment",
        shipment,
        "--line",
        "0:96",
        "--reason",
        "x",
        *served.as_("dist1"),
    )
    refused(
        served,
        capsys,
        "UNIT-CODES-REQUIRED",
        "return",
        "--shipment",
        ship5,
        "--line",
        "0:1",
        "--reason",
        "x",
        *served.as_("hospital"),
    )
    refused(
        served,
        capsys,
        "RETURN-NOT-CONSIGNEE",
        "return",
        "--shipment",
        shipment,
        "--line",
        "0:1",
        "--reason",
        "x",
        *served.as_("dist2"),
    )
    malformed(
        served,
        capsys,
        "quantity",
        "return",
        "--shipment",
        shipment,
        "--line",
        "0:2.5",
        "--reason",
        "x",
        *served.as_("dist1")[2:],
    )
    malformed(
        served,
        capsys,
        "$.lines[0].unit_codes",
        "return",
        "--shipment",
        ship5,
        "--line",
        "0:3",
        "--unit-codes-file",
        f"0:{codes_file}",
        "--reason",
        "x",
        *served.as_("hospital")[2:],
    )
    malformed(
        served,
        capsys,
        "twice",
        "return",
        "--shipment",
        shipment,
        "--line",
        "0:1",
        "--line",
        "0:2",
        "--reason",
        "x",
        *served.as_("dist1")[2:],
    )


# --- recalls -------------------------------------------------------------------------------------


def test_recall_quarantine_release(served: Served, capsys) -> None:
    lot = ["--product", AMOXICILLIN, "--lot", AMX_HOLD]
    answer = accepted(
        served, capsys, "recall", *lot, "--quarantine", "--reason", "疑似污染", *served.as_("mah")
    )
    assert answer["record"]["record"]["body"]["action"] == "quarantine"
    refused(
        served,
        capsys,
        "RECALL-STATE",
        "recall",
        "--product",
        AMOXICILLIN,
        "--lot",
        AMX_LOT,
        "--release",
        "--reason",
        "x",
        *served.as_("mah"),
    )
    accepted(
        served, capsys, "recall", *lot, "--release", "--reason", "检验合格", *served.as_("mah")
    )
    # A recall of the lot dist1 holds, with the list of whom to notify.
    code, out, err = run_cli(
        capsys,
        "recall",
        "--product",
        AMOXICILLIN,
        "--lot",
        AMX_LOT,
        "--level",
        "I",
        "--reason",
        "含量不合格",
        "--notify",
        *served.as_("mah"),
    )
    assert code == 0, err
    assert "level I recall" in out and "within 24 hours" in out
    assert f"{served.uscc['dist1']} {served.names['dist1']}: holds_stock" in out

    refused(
        served,
        capsys,
        "ROLE-FORBIDDEN",
        "recall",
        *lot,
        "--level",
        "II",
        "--reason",
        "x",
        *served.as_("dist1"),
    )
    malformed(served, capsys, "$.level", "recall", *lot, "--reason", "x", *served.as_("mah")[2:])
    malformed(
        served,
        capsys,
        "$.level",
        "recall",
        *lot,
        "--level",
        "IV",
        "--reason",
        "x",
        *served.as_("mah")[2:],
    )
    malformed(
        served,
        capsys,
        "$.level applies to a recall",
        "recall",
        *lot,
        "--quarantine",
        "--level",
        "I",
        "--reason",
        "x",
        *served.as_("mah")[2:],
    )


# --- disputes ------------------------------------------------------------------------------------


def test_dispute_open_and_resolve(served: Served, capsys) -> None:
    order = served.ids["order2"]  # dist2 bought 60 x 4800 fen from dist1
    opened = accepted(
        served,
        capsys,
        "dispute",
        "open",
        "--order",
        order,
        "--reason",
        "到货短少",
        "--claimed-fen",
        "48000",
        *served.as_("dist2"),
    )
    dispute = opened["record"]["record"]["id"]
    assert opened["record"]["record"]["body"]["claimed_fen"] == 48000
    refused(
        served,
        capsys,
        "DISPUTE-OPEN",
        "dispute",
        "open",
        "--order",
        order,
        "--reason",
        "x",
        *served.as_("dist1"),
    )
    refused(
        served,
        capsys,
        "DISPUTE-PARTY",
        "dispute",
        "open",
        "--order",
        served.ids["order1"],
        "--reason",
        "x",
        *served.as_("hospital"),
    )
    malformed(
        served,
        capsys,
        "--claimed-fen",
        "dispute",
        "open",
        "--order",
        order,
        "--reason",
        "x",
        "--claimed-fen",
        "480.00",
        *served.as_("dist2")[2:],
    )

    resolve = ["dispute", "resolve", "--dispute", dispute, "--note", "按实收数量结算"]
    refused(
        served,
        capsys,
        "RESOLUTION-SPLIT",
        *resolve,
        "--to-seller-fen",
        "240000",
        "--to-buyer-fen",
        "1",
        *served.as_("arbiter"),
    )
    refused(
        served,
        capsys,
        "ROLE-FORBIDDEN",
        *resolve,
        "--to-seller-fen",
        "240000",
        "--to-buyer-fen",
        "48000",
        *served.as_("dist1"),
    )
    malformed(
        served,
        capsys,
        "--to-buyer-fen",
        *resolve,
        "--to-seller-fen",
        "240000",
        "--to-buyer-fen",
        "-1",
        *served.as_("arbiter")[2:],
    )
    code, out, err = run_cli(
        capsys,
        *resolve,
        "--to-seller-fen",
        "240000",
        "--to-buyer-fen",
        "48000",
        *served.as_("arbiter"),
    )
    assert code == 0, err
    assert f"dispute {dispute} resolved: 240000 fen (¥2,400.00) to the seller" in out
    refused(
        served,
        capsys,
        "RESOLUTION-TWICE",
        *resolve,
        "--to-seller-fen",
        "240000",
        "--to-buyer-fen",
        "48000",
        *served.as_("arbiter"),
    )


# --- keys ----------------------------------------------------------------------------------------


def test_keys_rotate_and_revoke(served: Served, capsys, tmp_path: Path) -> None:
    who = served.uscc["keyholder"]
    old = served.as_("keyholder")
    old_id = read_public_info(served.keys["keyholder"])["key_id"]
    new = tmp_path / "new.key"
    answer = accepted(
        served,
        capsys,
        "keys",
        "rotate",
        *old,
        "--new-out",
        str(new),
        "--fast-kdf",
        "--retire-current",
    )
    body = answer["record"]["record"]["body"]
    info = read_public_info(new)
    assert body == {"participant": who, "new_key": info["public_key"], "retire_key": old_id}
    assert info["actor"] == who and not Path(f"{new}.partial").exists()
    with_new = [*old[:2], "--key-file", str(new), *old[4:]]

    # The retired key signs nothing more; its failed rotation leaves no key file behind.
    lost = tmp_path / "lost.key"
    refused(
        served, capsys, "KEY-REVOKED", "keys", "rotate", *old, "--new-out", str(lost), "--fast-kdf"
    )
    assert not lost.exists() and not Path(f"{lost}.partial").exists()

    # No answer at all: the new key file is kept aside, in case the ledger took it.
    unsure = tmp_path / "unsure.key"
    code, out, err = run_cli(
        capsys,
        "keys",
        "rotate",
        *with_new,
        "--new-out",
        str(unsure),
        "--fast-kdf",
        "--url",
        f"http://127.0.0.1:{free_port()}",
    )
    assert code == 2 and "cannot reach" in err and f"{unsure}.partial" in err, err
    assert err.count("\n") == 1 and Path(f"{unsure}.partial").exists() and not unsure.exists()

    # A third key made with keys new, added by the new key; the admin revokes it.
    third = tmp_path / "third.key"
    code, _, err = run_cli(
        capsys,
        "keys",
        "new",
        "--out",
        str(third),
        "--actor",
        who,
        "--fast-kdf",
        "--passphrase-file",
        str(served.tmp / "pass"),
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "keys", "rotate", *with_new, "--new-key-file", str(third))
    third_id = read_public_info(third)["key_id"]
    assert code == 0 and f"key {third_id} added for {who}" in out, err
    accepted(
        served,
        capsys,
        "keys",
        "revoke",
        *served.as_("admin"),
        "--participant",
        who,
        "--key-id",
        third_id,
        "--reason",
        "设备丢失",
    )
    refused(
        served,
        capsys,
        "KEY-REVOKED",
        "keys",
        "revoke",
        *with_new,
        "--key-id",
        third_id,
        "--reason",
        "x",
    )
    # Not a participant's own key; a key already enrolled elsewhere.
    refused(
        served,
        capsys,
        "ROLE-FORBIDDEN",
        "keys",
        "revoke",
        *with_new,
        "--participant",
        served.uscc["dist1"],
        "--key-id",
        read_public_info(served.keys["dist1"])["key_id"],
        "--reason",
        "x",
    )
    refused(
        served,
        capsys,
        "KEY-DUPLICATE",
        "keys",
        "rotate",
        *with_new,
        "--new-key-file",
        served.keys["dist1"],
    )
    malformed(
        served, capsys, "$.new_key", "keys", "rotate", *with_new[2:], "--new-public-key", "zz" * 32
    )
    malformed(
        served,
        capsys,
        "$.key_id",
        "keys",
        "revoke",
        *with_new[2:],
        "--key-id",
        "not-a-key",
        "--reason",
        "x",
    )
    malformed(served, capsys, "one of", "keys", "rotate", *with_new[2:])
    # The new key logs in and reads; the retired one cannot.
    code, out, err = run_cli(capsys, "licence", "list", *with_new)
    assert code == 0 and f"licences of {who}" in out, err
    code, out, err = run_cli(capsys, "licence", "list", *old)
    assert code == 2 and old_id in err, err


# --- corrections ---------------------------------------------------------------------------------


def test_correct(served: Served, capsys) -> None:
    order = served.ids["order_c"]
    refused(
        served, capsys, "CORR-NOT-AUTHOR", "correct", order, "--reason", "x", *served.as_("dist1")
    )
    answer = accepted(
        served, capsys, "correct", order, "--reason", "重复下单", *served.as_("dist2")
    )
    assert answer["record"]["record"]["supersedes"] == order
    assert answer["record"]["record"]["body"] == {"reason": "重复下单"}
    refused(served, capsys, "CORR-TWICE", "correct", order, "--reason", "x", *served.as_("dist2"))
    refused(
        served,
        capsys,
        "CORR-TOO-LATE",
        "correct",
        served.ids["order1"],
        "--reason",
        "x",
        *served.as_("dist1"),
    )
    refused(
        served,
        capsys,
        "CORR-UNSUPPORTED",
        "correct",
        served.ids["batch"],
        "--reason",
        "x",
        *served.as_("mah"),
    )
    malformed(
        served,
        capsys,
        "supersedes",
        "correct",
        "bad id!",
        "--reason",
        "x",
        *served.as_("dist2")[2:],
    )
    malformed(
        served, capsys, "$.reason", "correct", order, "--reason", " ", *served.as_("dist2")[2:]
    )


# --- help, and the real entry point --------------------------------------------------------------

COMMANDS = [
    ["licence", "record"],
    ["licence", "list"],
    ["product", "register"],
    ["invoice", "issue"],
    ["return"],
    ["recall"],
    ["dispute", "open"],
    ["dispute", "resolve"],
    ["keys", "rotate"],
    ["keys", "revoke"],
    ["correct"],
]


@pytest.mark.parametrize("command", [" ".join(c) for c in COMMANDS])
def test_help(command: str, capsys) -> None:
    code, out, _ = run_cli(capsys, *command.split(), "--help")
    assert code == 0 and out.startswith(f"usage: lotproof {command}")


def test_child_process_exit_codes(served: Served) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOTPROOF_URL": served.url}
    argv = [
        sys.executable,
        "-m",
        "scripts.cli",
        "dispute",
        "resolve",
        "--dispute",
        "no-such-dispute",
        "--to-seller-fen",
        "1",
        "--to-buyer-fen",
        "0",
        "--note",
        "x",
        "--key-file",
        served.keys["arbiter"],
        "--passphrase-file",
        str(served.tmp / "pass"),
    ]
    before = served.size()
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.startswith("error: DISPUTE-UNKNOWN: "), run.stderr
    assert run.stderr.count("\n") == 1 and served.size() == before
    bad = [a if a != "1" else "1.5" for a in argv]
    run = subprocess.run(bad, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--to-seller-fen must be a whole number" in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
