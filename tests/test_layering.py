"""The packages depend only downward: ledger <- anchors <- api <- scripts.

`ledger` imports no other project package, nor web3 nor fastapi; `anchors` may import
`ledger`; `api` may import both; `scripts` may import all. This test reads every module's
imports (statically, with ast) and fails on any upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["ledger", "anchors", "api", "scripts"]
FORBIDDEN_THIRD_PARTY = {
    "ledger": {"web3", "eth_tester", "eth", "fastapi", "starlette", "uvicorn", "httpx", "solcx"},
    "anchors": {"fastapi", "starlette", "uvicorn"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def violations() -> list[str]:
    found = []
    for rank, package in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in LAYERS and top not in allowed:
                    found.append(f"{path.relative_to(ROOT)} imports {module} (upward)")
                if top in FORBIDDEN_THIRD_PARTY.get(package, set()):
                    found.append(f"{path.relative_to(ROOT)} imports {module} (not allowed here)")
    return found


def test_every_package_exists() -> None:
    for package in LAYERS:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_imports_point_only_downward() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from api.app import create_app\nimport web3\n", encoding="utf-8")
    assert imported_modules(module) == {"api.app", "web3"}
