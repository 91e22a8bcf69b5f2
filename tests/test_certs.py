"""``echobench cluster-certs``' files, made both ways, as Dask uses them: mutual TLS.

Each side's context is the one ``distributed.Security`` builds from the files; a
handshake over a socket pair shows the chain and the keys fit, and that a certificate
from another CA is turned away.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from pathlib import Path

import pytest

from echobench.clients._certs import CertFiles, make_certs

distributed = pytest.importorskip("distributed")

TOOLS = [
    "cryptography",
    pytest.param(
        "openssl",
        marks=pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command"),
    ),
]


def _security(files: CertFiles, role: str, client: CertFiles | None = None) -> object:
    mine = client or files
    return distributed.Security(
        tls_ca_file=str(files.ca),
        **{f"tls_{role}_cert": str(mine.cert(role)), f"tls_{role}_key": str(mine.key(role))},
        require_encryption=True,
    )


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    """None when both sides accept each other, else the server's complaint."""
    left, right = socket.socketpair()
    failure: list[str] = []

    def serve() -> None:
        try:
            with server.wrap_socket(left, server_side=True) as tls:
                tls.sendall(b"x")
        except ssl.SSLError as exc:
            failure.append(str(exc.reason))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(right) as tls:
            tls.settimeout(5)
            tls.recv(1)
    except (ssl.SSLError, ConnectionError):
        pass
    thread.join(5)
    left.close()
    return failure[0] if failure else None


@pytest.mark.parametrize("tool", TOOLS)
def test_scheduler_and_client_accept_each_other(tmp_path: Path, tool: str) -> None:
    assert make_certs(tmp_path / "c", ["198.18.0.2", "sched.test"], tool=tool) == tool
    files = CertFiles(tmp_path / "c")
    listen = _security(files, "scheduler").get_listen_args("scheduler")["ssl_context"]
    for role in ("client", "worker"):
        dial = _security(files, role).get_connection_args(role)["ssl_context"]
        assert _handshake(listen, dial) is None
    # A client key its CA never signed: the scheduler refuses it.
    make_certs(tmp_path / "other", tool=tool)
    intruder = _security(files, "client", CertFiles(tmp_path / "other"))
    refused = _handshake(listen, intruder.get_connection_args("client")["ssl_context"])
    assert refused is not None and "CERTIFICATE" in refused.upper()
    for role in ("scheduler", "worker", "client"):
        assert (files.key(role).stat().st_mode & 0o777) == 0o600
        assert (files.cert(role).stat().st_mode & 0o777) == 0o644
