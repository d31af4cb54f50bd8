"""`make demo` tells the whole story and ends as the README says: the bundle verifies, the
tampered copy fails. This runs the same script, into a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ledger.bundle import Bundle, check_bundle
from ledger.checkpoint import NoteVerifier

ROOT = Path(__file__).resolve().parent.parent


def test_demo_story_ends_with_a_verified_bundle_and_a_failed_forgery(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.demo", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout
    assert "Traceback" not in text + result.stderr
    # The rules refused the bad records, by id.
    assert "refused (ROLE-FORBIDDEN)" in text
    assert "refused (ACCEPT-COLD-EXCURSION)" in text
    # Release by proof paid once; the replay reverted with the contract's named error.
    assert "released by proof" in text
    assert "reverted (TradeEscrowWrongStatus)" in text
    # The auditor's verdicts: exit 0 for the bundle, exit 1 for the tampered copy.
    assert text.count("VERIFIED:") == 1 and "exit 0" in text
    assert "FAILED:" in text and "exit 1" in text
    # The outputs the README names, and the bundle verifies here too, with the key written.
    bundle = Bundle.from_dict(json.loads((out / "bundle.json").read_text()))
    verifier = NoteVerifier.from_string((out / "log.vkey").read_text().strip())
    assert check_bundle(bundle, [verifier]).ok
    tampered = Bundle.from_dict(json.loads((out / "tampered-bundle.json").read_text()))
    assert not check_bundle(tampered, [verifier]).ok
