"""``echobench serve``."""

from __future__ import annotations

import argparse

HELP = "run one backend in the foreground, under the contract"


def _options(values: list[str]) -> dict[str, str]:
    options = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE, not {item!r}")
        options[key] = value
    return options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="backend name (see: echobench list)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    parser.add_argument("--unix", metavar="PATH", help="listen on a Unix domain socket instead")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve TLS with a self-signed certificate made for this run",
    )
    parser.add_argument(
        "--readline",
        action="store_true",
        help="vmbench's readline mode: echo newline-framed messages a line at a time, read "
        "with readline() (the streams backends)",
    )
    parser.add_argument("--certfile", help="TLS certificate (with --tls); default: self-signed")
    parser.add_argument("--keyfile", help="TLS key (with --tls)")
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend-specific option, e.g. -o workers=2",
    )


def run(args: argparse.Namespace) -> int:
    from echobench.servers._contract import ServeConfig
    from echobench.servers._errors import UserError
    from echobench.servers._registry import get_backend
    from echobench.servers._serve import serve

    try:
        options = _options(args.option)
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None
    if args.unix and args.tls:
        raise UserError("--unix and --tls cannot be combined")
    config = ServeConfig(
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        unix=args.unix,
        tls=args.tls,
        certfile=args.certfile,
        keyfile=args.keyfile,
        options=options,
        readline=args.readline,
    )
    return serve(get_backend(args.name), config)
