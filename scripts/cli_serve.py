"""``lotproof serve``: the ledger API on SQLite and the persistent embedded chain by default.

``--db URL`` selects PostgreSQL, ``--rpc URL`` an external EVM chain (``--no-chain`` none),
``--cert/--key-file`` TLS. State lives in ``--data-dir`` (ledger.db, chain.db, note.key,
token.secret, admins.json, contracts.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.errors import LedgerError
from scripts.cli import EXIT_ERROR, EXIT_OK, Subparsers, one_line


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the ledger API")
    p.add_argument("--data-dir", default="lotproof-data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--db", help="database URL (default: SQLite in the data dir)")
    chain = p.add_mutually_exclusive_group()
    chain.add_argument("--rpc", help="EVM JSON-RPC URL (default: the embedded chain)")
    chain.add_argument("--no-chain", action="store_true", help="run without anchors and escrow")
    p.add_argument("--registry", help="existing AnchorRegistry address on --rpc")
    p.add_argument("--escrow", help="existing TradeEscrow address on --rpc")
    p.add_argument("--admin", action="append", default=[], metavar="ADMIN=HEX")
    p.add_argument("--admin-file", help="JSON {admin: hex} or the admin's key file")
    p.add_argument("--origin", default="lotproof.local/log", help="checkpoint origin")
    p.add_argument("--cert", help="TLS certificate (PEM)")
    p.add_argument("--key-file", help="TLS private key (PEM)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from api.server import load_admin_keys, serve
    from api.settings import Settings

    if bool(args.cert) != bool(args.key_file):
        print("error: TLS needs both --cert and --key-file", file=sys.stderr)
        return EXIT_ERROR
    data_dir = Path(args.data_dir)
    try:
        contracts = {}
        if args.registry and args.escrow:
            contracts = {"AnchorRegistry": args.registry, "TradeEscrow": args.escrow}
        settings = Settings(
            data_dir=data_dir,
            admin_keys=load_admin_keys(data_dir, args.admin, args.admin_file),
            database_url=args.db,
            chain="none" if args.no_chain else ("rpc" if args.rpc else "embedded"),
            rpc_url=args.rpc,
            origin=args.origin,
            contracts=contracts,
        )
    except (LedgerError, OSError, ValueError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    scheme = "https" if args.cert else "http"
    print(f"lotproof serving {scheme}://{args.host}:{args.port} (data in {data_dir})", flush=True)
    serve(settings, args.host, args.port, (args.cert, args.key_file) if args.cert else None)
    return EXIT_OK
