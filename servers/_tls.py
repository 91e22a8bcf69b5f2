"""TLS for the contract's ``--tls`` option: a self-signed certificate per run."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess

from echobench.servers._contract import ServeConfig
from echobench.servers._errors import UserError


def make_self_signed(directory: str) -> tuple[str, str]:
    """Write a fresh self-signed certificate and key for localhost; return their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise UserError("--tls needs the openssl command to make a self-signed certificate")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UserError(f"openssl failed to make a certificate: {result.stderr.strip()[-200:]}")
    return cert, key


def server_context(config: ServeConfig) -> ssl.SSLContext:
    """The server context for ``config``'s certificate (``_serve`` makes one if none)."""
    certfile, keyfile = config.certfile, config.keyfile
    if certfile is None:
        raise UserError("--tls needs a certificate (--certfile)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot load TLS certificate {certfile}: {exc}") from None
    return context


def client_context() -> ssl.SSLContext:
    """A client context for the suite's own self-signed servers (on loopback only)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
