"""``lotproof export epcis``: a batch's records, or a range of the log, as GS1 EPCIS 2.0
JSON-LD (docs/epcis.md), written byte for byte as the server produced it.

    lotproof export epcis --batch <batch id> --out insulin.jsonld
    lotproof export epcis --product 8612345 --lot INS2603A > insulin.jsonld
    lotproof export epcis --from 0 --to 1000 --out first-thousand.jsonld

The caller logs in with its key file like every participant command (``--key-file``,
``--passphrase-file``); an auditor's or regulator's key exports everything, a participant's
only the records it is party to. Exit 0 when written, 2 with one line for a bad selection,
an unknown batch, a refusal to read or an unreachable server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ledger.errors import MalformedInputError
from scripts.cli import EXIT_OK, Subparsers, command_group


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    by_batch = args.batch is not None or args.product is not None or args.lot is not None
    by_range = args.start is not None or args.end is not None
    if by_batch == by_range:
        raise MalformedInputError(
            "name either a batch (--batch, or --product and --lot) or a range (--from and --to)"
        )
    if by_batch:
        if args.batch is None and (args.product is None or args.lot is None):
            raise MalformedInputError("a batch by lot needs both --product and --lot")
        if args.batch is not None and (args.product is not None or args.lot is not None):
            raise MalformedInputError("name the batch by --batch or by --product and --lot")
        return {"batch": args.batch, "product": args.product, "lot": args.lot}
    if args.start is None or args.end is None:
        raise MalformedInputError("a range needs both --from and --to")
    if not 0 <= args.start < args.end:
        raise MalformedInputError(f"want 0 <= --from < --to, got {args.start} and {args.end}")
    return {"from": args.start, "to": args.end}


def fetch_epcis(client: Any, params: dict[str, Any]) -> bytes:
    """``GET /v1/epcis`` as the client's participant: the document's bytes, or ``ApiError``."""
    import httpx

    from api.client import ApiError

    token = client.token()
    try:
        response = client._http.get(  # the client's transport, so tests can pass their own
            "/v1/epcis",
            params={k: v for k, v in params.items() if v is not None},
            headers={"authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as e:
        raise ApiError(0, "unreachable", f"cannot reach {client.base_url}: {e}") from None
    if response.status_code >= 400:
        try:
            err = response.json()["error"]
            raise ApiError(response.status_code, err.get("type", "error"), err["message"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                response.status_code, "http_error", response.text[:200] or "error"
            ) from None
    return bytes(response.content)


def _export_epcis(args: argparse.Namespace) -> int:
    from scripts.cli_participant import _client, _material

    params = _selection(args)
    client = _client(args, _material(args))
    document = fetch_epcis(client, params)
    if args.out is None:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return EXIT_OK
    Path(args.out).write_bytes(document)
    events = len(json.loads(document)["epcisBody"]["eventList"])
    summary = {"out": args.out, "events": events, "bytes": len(document)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {events} EPCIS events ({len(document)} bytes) to {args.out}")
    return EXIT_OK


def register(subparsers: Subparsers) -> None:
    from scripts.cli_participant import _common, _run

    export = command_group(subparsers, "export", "export ledger data in standard formats")
    p = export.add_parser(
        "epcis",
        help="a batch's records, or a range of the log, as GS1 EPCIS 2.0 JSON-LD",
        description=(
            "Export as GS1 EPCIS 2.0 JSON-LD (an EPCISDocument). Select a batch (--batch, or "
            "--product and --lot) or leaves [--from, --to) of the log. You get the records "
            "you may read: all of them with an auditor's or regulator's key, else those you "
            "are party to."
        ),
    )
    _common(p)
    p.add_argument("--batch", help="batch record id")
    p.add_argument("--product", help="7-digit product code (with --lot)")
    p.add_argument("--lot", help="lot number (with --product)")
    p.add_argument(
        "--from", dest="start", type=int, metavar="N", help="first leaf index (inclusive)"
    )
    p.add_argument("--to", dest="end", type=int, metavar="M", help="last leaf index (exclusive)")
    p.add_argument("--out", help="write the document here (default: standard output)")
    p.set_defaults(handler=_run(_export_epcis))
