"""``echobench cluster-certs``: a CA and certificates for a TLS-secured load cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "make a CA and TLS certificates for the Dask scheduler, workers and client of --cluster"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="folder to write them into (made if absent)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name or address of the scheduler or a worker, written into their "
        "certificates' alternative names (Dask does not check them; other tools may)",
    )
    parser.add_argument(
        "--days", type=int, default=365, help="how long the certificates are valid (default 365)"
    )
    parser.add_argument(
        "--openssl",
        action="store_true",
        help="make them with the openssl command even where the cryptography package is installed",
    )


def run(args: argparse.Namespace) -> int:
    from echobench.clients._certs import CertFiles, dask_settings, make_certs

    tool = make_certs(
        args.directory, args.host, args.days, tool="openssl" if args.openssl else None
    )
    files = CertFiles(args.directory)
    print(
        f"wrote {files.ca.name}, {files.ca_key.name} and a certificate and key for the "
        f"scheduler, the workers and the client into {args.directory} (made with {tool}); "
        f"valid {args.days} days"
    )
    scheduler = next((h for h in args.host), "HOST")
    print(dask_settings(args.directory, scheduler))
    return 0
