"""Runs one backend in this process, under the contract."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import replace
from tempfile import TemporaryDirectory

from echobench.servers._backend import Backend
from echobench.servers._contract import ServeConfig, ServeContext, bind_listener, raise_fd_limit
from echobench.servers._errors import UserError
from echobench.servers._tls import make_self_signed, server_context


def serve(backend: Backend, config: ServeConfig) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status (0 on a clean stop)."""
    reason = backend.unavailable_reason()
    if reason is not None:
        raise UserError(f"backend {backend.name!r} cannot run here: {reason}")
    transport = "unix" if config.unix else ("tls" if config.tls else "tcp")
    if transport not in backend.transports:
        supported = ", ".join(sorted(backend.transports))
        raise UserError(
            f"backend {backend.name!r} does not support {transport} (it supports: {supported})"
        )
    if config.readline and not backend.readline:
        raise UserError(
            f"backend {backend.name!r} has no readline mode (the streams backends have one)"
        )
    raise_fd_limit()
    if backend.command is not None:
        return _exec_external(backend, config)
    serve_function = backend.load_serve()
    if backend.reuse_port:
        config = replace(config, reuse_port=True)
    with ExitStack() as cleanup:
        if config.tls and config.certfile is None:
            # A certificate made for this run, removed when the server stops.
            directory = cleanup.enter_context(TemporaryDirectory(prefix="echobench-tls-"))
            certfile, keyfile = make_self_signed(directory)
            config = replace(config, certfile=certfile, keyfile=keyfile)
        listener = bind_listener(config)
        cleanup.callback(listener.close)
        if config.unix is not None:
            cleanup.callback(_unlink_if_present, config.unix)
        ssl_context = server_context(config) if config.tls else None
        ctx = ServeContext(config=config, listener=listener, ssl_context=ssl_context)
        try:
            serve_function(ctx)
        except KeyboardInterrupt:
            pass  # a SIGINT that arrived before the backend installed its handler
    sys.stdout.flush()
    return 0


def _unlink_if_present(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def _exec_external(backend: Backend, config: ServeConfig) -> int:
    assert backend.command is not None
    # The executable binds for itself; check the address as every listener is
    # checked (loopback unless --allow-remote, a valid port, not in use) first.
    bind_listener(config).close()
    if config.unix is not None:
        os.unlink(config.unix)
    fields = {
        "host": config.host,
        "port": str(config.port),
        "backlog": str(config.backlog),
        "unix": config.unix or "",
    }
    argv = [part.format(**fields) for part in backend.command]
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        raise UserError(
            f"cannot run {argv[0]!r} for backend {backend.name!r}: {exc.strerror}"
        ) from None
    return 1  # not reached
