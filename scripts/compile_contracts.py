"""Compile the Solidity contracts and write their artifacts to anchors/artifacts/.

Usage: ``python -m scripts.compile_contracts [--check]``

The compiler is solc 0.8.28 from npm (node_modules/solc) behind ``scripts/solc``, a small
Node wrapper that py-solc-x drives like a native binary. Settings are fixed here (EVM version
``paris``, optimizer on with a fixed number of runs), so the same sources always give the
same bytes. Each artifact holds the ABI, creation and runtime bytecode, the compiler version,
the settings, and the SHA-256 of every source file the contract was built from.

``--check`` compiles and compares with the committed artifacts instead of writing them;
it exits 1 and names the stale files when they differ. Only this step (and the test that
runs it) needs Node; everything else reads the committed JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = ROOT / "anchors" / "artifacts"
SOLC = ROOT / "scripts" / "solc"
NODE_MODULES = ROOT / "node_modules"

SETTINGS: dict[str, Any] = {
    "evmVersion": "paris",
    "optimizer": {"enabled": True, "runs": 10_000},
    "viaIR": False,
    "metadata": {"bytecodeHash": "ipfs"},
}

OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]


class CompileError(Exception):
    """The compiler reported errors, or its set-up is missing."""


def source_units() -> dict[str, Path]:
    """Every Solidity file under contracts/, by its source unit name (``contracts/...``)."""
    return {
        path.relative_to(ROOT).as_posix(): path for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }


def _resolve(unit: str) -> Path:
    for base in (ROOT, NODE_MODULES):
        candidate = base / unit
        if candidate.is_file():
            return candidate
    raise CompileError(f"source {unit} is neither in the project nor in node_modules")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _errors(output: dict[str, Any]) -> list[str]:
    return [
        str(e.get("formattedMessage", e.get("message")))
        for e in output.get("errors", [])
        if e.get("severity") == "error"
    ]


def compile_all() -> dict[str, dict[str, Any]]:
    """Compile every contract; return the artifacts by contract name (not written)."""
    import solcx
    from solcx.exceptions import SolcError

    if not (NODE_MODULES / "solc").is_dir():
        raise CompileError("node_modules/solc is missing: run `make setup` (npm ci) first")
    units = source_units()
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"content": path.read_text()} for unit, path in units.items()},
        "settings": {**SETTINGS, "outputSelection": {"*": {"*": OUTPUTS, "": ["ast"]}}},
    }
    try:
        output = solcx.compile_standard(
            standard_input,
            solc_binary=SOLC,
            base_path=str(ROOT),
            allow_paths=[str(ROOT), str(NODE_MODULES)],
        )
    except SolcError as exc:
        try:
            output = json.loads(exc.stdout_data or "")
        except ValueError:
            raise CompileError(str(exc)[:2000]) from exc
        if not _errors(output):
            raise CompileError(str(exc)[:2000]) from exc
    errors = _errors(output)
    if errors:
        raise CompileError("\n".join(errors))
    version = str(solcx.wrapper.get_solc_version(SOLC, True))

    artifacts: dict[str, dict[str, Any]] = {}
    for unit in units:
        kinds = {
            node["name"]: node["contractKind"]
            for node in output["sources"][unit]["ast"]["nodes"]
            if node.get("nodeType") == "ContractDefinition"
        }
        for name, compiled in output["contracts"].get(unit, {}).items():
            if kinds.get(name) != "contract":
                continue  # libraries are inlined (internal functions), interfaces have no code
            if name in artifacts:
                raise CompileError(f"two contracts are named {name}")
            metadata = json.loads(compiled["metadata"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": unit,
                "compiler": {"name": "solc", "version": version},
                "settings": SETTINGS,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "sources": {
                    src: {"sha256": _sha256(_resolve(src))} for src in sorted(metadata["sources"])
                },
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """The exact text of an artifact file."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def stale_artifacts(artifacts: dict[str, dict[str, Any]]) -> list[str]:
    """Names of artifact files that differ from (or are missing beside) a fresh compile."""
    stale = []
    expected = {f"{name}.json": render(artifact) for name, artifact in artifacts.items()}
    for filename, text in expected.items():
        path = ARTIFACTS_DIR / filename
        if not path.is_file() or path.read_text() != text:
            stale.append(filename)
    for path in ARTIFACTS_DIR.glob("*.json"):
        if path.name not in expected:
            stale.append(path.name)
    return sorted(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed artifacts, write nothing"
    )
    args = parser.parse_args(argv)
    try:
        artifacts = compile_all()
    except CompileError as exc:
        print(f"compile failed: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print("stale artifacts: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(artifacts)} artifacts up to date")
        return 0
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    for path in ARTIFACTS_DIR.glob("*.json"):
        if path.stem not in artifacts:
            path.unlink()
    for name, artifact in artifacts.items():
        (ARTIFACTS_DIR / f"{name}.json").write_text(render(artifact))
    print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
