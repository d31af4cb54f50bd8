"""The committed artifacts are exactly what the compiler makes of the committed sources."""

from __future__ import annotations

import hashlib
import json

import pytest

from anchors.chain import ARTIFACTS_DIR, artifact_names, error_table, load_artifact
from anchors.errors import ArtifactError
from scripts import compile_contracts


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, object]]:
    return compile_contracts.compile_all()


def test_artifacts_match_a_fresh_compile(fresh: dict[str, dict[str, object]]) -> None:
    assert compile_contracts.stale_artifacts(fresh) == []
    assert sorted(fresh) == artifact_names()


def test_artifacts_record_compiler_settings_and_sources() -> None:
    for name in ("AnchorRegistry", "TradeEscrow"):
        artifact = load_artifact(name)
        assert artifact.compiler_version.startswith("0.8.28+commit.")
        assert artifact.settings["evmVersion"] == "paris"
        assert artifact.settings["optimizer"]["enabled"] is True
        assert artifact.deployed_bytecode and len(artifact.bytecode) > len(
            artifact.deployed_bytecode
        )
        assert f"contracts/{name}.sol" in artifact.sources
        assert "contracts/RFC9162.sol" in artifact.sources
        root = compile_contracts.ROOT
        for unit, digest in artifact.sources.items():
            path = root / unit if unit.startswith("contracts/") else root / "node_modules" / unit
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, unit
        # paris: no PUSH0 (0x5f) may appear as an opcode; scan the code, skipping push data.
        code, i = artifact.deployed_bytecode, 0
        metadata_start = len(code) - 2 - int.from_bytes(code[-2:], "big")
        while i < metadata_start:
            op = code[i]
            assert op != 0x5F, f"{name}: PUSH0 at {i}"
            i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_error_selectors_are_unique_and_named_by_component() -> None:
    table = error_table()
    names = {spec.name for spec in table.values()}
    for prefix in ("AnchorRegistry", "TradeEscrow", "RFC9162"):
        assert any(n.startswith(prefix) for n in names)
    for name in ("AnchorRegistry", "TradeEscrow"):
        for entry in load_artifact(name).abi:
            if entry["type"] == "error":
                assert entry["name"].startswith(
                    (
                        "AnchorRegistry",
                        "TradeEscrow",
                        "RFC9162",
                        "AccessControl",
                        "ReentrancyGuard",
                        "SafeERC20",
                    )
                ), entry["name"]


def test_unknown_artifact_is_a_named_error() -> None:
    with pytest.raises(ArtifactError, match="no artifact"):
        load_artifact("NoSuchContract")
    with pytest.raises(ArtifactError):
        load_artifact("../etc/passwd")
    raw = json.loads((ARTIFACTS_DIR / "TradeEscrow.json").read_text())
    assert raw["bytecode"].startswith("0x") and raw["abi"]
