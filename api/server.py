"""``lotproof serve``: run the API with uvicorn on the embedded defaults or given backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.settings import Settings
from ledger.errors import MalformedInputError


def load_admin_keys(data_dir: Path, given: list[str], admin_file: str | None) -> dict[str, bytes]:
    """Admin keys from ``ADMIN=HEX`` values, a JSON file ``{admin: hex}``, or the data dir.

    The first start stores them in ``data_dir/admins.json``; later starts read it back, so
    the trust root of a ledger does not change by accident.
    """
    keys: dict[str, bytes] = {}
    if admin_file:
        doc = json.loads(Path(admin_file).read_text())
        if isinstance(doc, dict) and "public_key" in doc and "actor" in doc:  # a key file
            keys[str(doc["actor"])] = bytes.fromhex(doc["public_key"])
        elif isinstance(doc, dict):
            keys.update({str(k): bytes.fromhex(str(v)) for k, v in doc.items()})
    for value in given:
        name, sep, hex_key = value.partition("=")
        if not sep:
            raise MalformedInputError(f"--admin must be ADMIN=<64 hex>, got {value!r}")
        keys[name] = bytes.fromhex(hex_key)
    stored = data_dir / "admins.json"
    if keys:
        for name, key in keys.items():
            if len(key) != 32:
                raise MalformedInputError(f"admin {name} key has {len(key)} bytes, want 32")
        if stored.exists():
            old = {k: bytes.fromhex(v) for k, v in json.loads(stored.read_text()).items()}
            if old != keys:
                raise MalformedInputError(
                    f"{stored} names other admin keys; edit it deliberately to change them"
                )
        data_dir.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps({k: v.hex() for k, v in keys.items()}, indent=2))
        return keys
    if stored.exists():
        return {k: bytes.fromhex(v) for k, v in json.loads(stored.read_text()).items()}
    raise MalformedInputError(
        "no consortium admin key: give --admin ADMIN=HEX or --admin-file (a key file works)"
    )


def serve(settings: Settings, host: str, port: int, tls: tuple[str, str] | None = None) -> None:
    import uvicorn

    from api.app import create_app

    app = create_app(settings)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning"}
    if tls is not None:
        options["ssl_certfile"], options["ssl_keyfile"] = tls
    uvicorn.run(app, **options)
