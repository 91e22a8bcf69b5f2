"""Certificates for a secured load cluster (``echobench cluster-certs``).

A Dask scheduler runs whatever pickled code a connected client sends it, and so does
every worker, so who may connect decides who may run code on every client host. Dask's
TLS is mutual: each side shows a certificate signed by the cluster's CA and checks the
other's against it (``distributed.Security``; Dask skips host-name checks, since
clusters are usually reached by address, so the CA alone decides). This module makes
that CA and one certificate and key each for the scheduler, the workers and the
client, with the ``cryptography`` package, or with ``openssl`` where that package is
missing. Keys are written readable by their owner only.

May import ``echobench.servers`` (its errors).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from echobench.servers._errors import UserError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

ROLES = ("scheduler", "worker", "client")
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class CertFiles:
    """Where ``make_certs`` puts each file in ``directory``."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    def cert(self, role: str) -> Path:
        return self.directory / f"{role}.pem"

    def key(self, role: str) -> Path:
        return self.directory / f"{role}-key.pem"

    def missing(self, role: str) -> list[Path]:
        return [p for p in (self.ca, self.cert(role), self.key(role)) if not p.is_file()]


def make_certs(
    directory: Path, hosts: Sequence[str] = (), days: int = DEFAULT_DAYS, tool: str | None = None
) -> str:
    """Write the CA and the three roles' certificates into ``directory``; returns the
    tool that made them (``cryptography`` or ``openssl``). ``hosts`` (names or
    addresses) go into the scheduler's and workers' subject alternative names."""
    files = CertFiles(directory)
    if files.ca.exists():
        raise UserError(
            f"{directory} already holds a CA ({files.ca.name}): a new one would lock out every "
            "host holding the old certificates; choose another folder or remove it first"
        )
    if days < 1:
        raise UserError(f"--days must be at least 1, not {days}")
    chosen = tool or ("cryptography" if _has_cryptography() else "openssl")
    if chosen == "openssl" and shutil.which("openssl") is None:
        raise UserError(
            "cluster-certs needs the cryptography package (pip install 'echobench[cluster]') "
            "or the openssl command"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {directory}: {exc.strerror or exc}") from None
    names = [_name(h) for h in hosts]
    # Keys are never readable by others, not even for the moment before a chmod.
    umask = os.umask(0o077)
    try:
        if chosen == "cryptography":
            _with_cryptography(files, names, days)
        else:
            _with_openssl(files, names, days)
    finally:
        os.umask(umask)
    for cert in (files.ca, *(files.cert(role) for role in ROLES)):
        os.chmod(cert, 0o644)
    return chosen


def _has_cryptography() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def _name(host: str) -> str:
    """A subject alternative name: ``IP:...`` for an address, ``DNS:...`` otherwise."""
    try:
        return f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        if not host or any(c.isspace() or c == "," for c in host):
            raise UserError(f"--host {host!r} is neither an address nor a host name") from None
        return f"DNS:{host}"


def _with_cryptography(files: CertFiles, names: list[str], days: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    # A minute of slack for hosts whose clocks run a little behind this one's.
    start, end = now - datetime.timedelta(minutes=1), now + datetime.timedelta(days=days)

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "echobench cluster CA")])
    ca = _ca_certificate(ca_key, ca_name, start, end)
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    write_key(ca_key, files.ca_key)
    alternatives: list[x509.GeneralName] = []
    for name in names:
        kind, value = name.split(":", 1)
        alternatives.append(
            x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value)
        )
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"echobench {role}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Every role both accepts connections and makes them (workers talk to each
            # other and to the scheduler; a client's own listener is Dask's choice).
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if alternatives and role != "client":
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), False)
        cert = builder.sign(ca_key, hashes.SHA256())
        files.cert(role).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, files.key(role))


def _ca_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    start: datetime.datetime,
    end: datetime.datetime,
) -> x509.Certificate:
    """The self-signed CA: it may sign certificates (and revocation lists), nothing else."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"openssl {args[0]} failed: {last}")


def _with_openssl(files: CertFiles, names: list[str], days: int) -> None:
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        *("req", "-x509", *curve, "-keyout", str(files.ca_key), "-out", str(files.ca)),
        *("-days", str(days), "-subj", "/CN=echobench cluster CA", "-sha256"),
        *("-addext", "basicConstraints=critical,CA:TRUE,pathlen:0"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    with tempfile.TemporaryDirectory() as scratch:
        for role in ROLES:
            request = Path(scratch, f"{role}.csr")
            extensions = Path(scratch, f"{role}.ext")
            lines = [
                "basicConstraints=critical,CA:FALSE",
                "extendedKeyUsage=serverAuth,clientAuth",
                "authorityKeyIdentifier=keyid",
            ]
            if names and role != "client":
                lines.append("subjectAltName=" + ",".join(names))
            extensions.write_text("\n".join(lines) + "\n")
            _openssl(
                *("req", "-new", *curve, "-keyout", str(files.key(role))),
                *("-out", str(request), "-subj", f"/CN=echobench {role}"),
            )
            _openssl(
                *("x509", "-req", "-in", str(request), "-CA", str(files.ca)),
                *("-CAkey", str(files.ca_key), "-CAcreateserial", "-days", str(days)),
                *("-sha256", "-extfile", str(extensions), "-out", str(files.cert(role))),
            )
    Path(str(files.ca).replace(".pem", ".srl")).unlink(missing_ok=True)


def dask_settings(directory: Path, scheduler: str = "HOST") -> str:
    """How the scheduler, the workers and echobench use the files, as text to print."""
    files = CertFiles(directory.resolve())

    def options(role: str) -> str:
        return f"--tls-ca-file {files.ca} --tls-cert {files.cert(role)} --tls-key {files.key(role)}"

    address = f"tls://{scheduler}:8786"
    return "\n".join(
        [
            "# The scheduler (listens on TLS only):",
            f"dask scheduler --protocol tls --host {scheduler} --port 8786 {options('scheduler')}",
            "# Each client host:",
            f"dask worker {address} --nthreads 1 {options('worker')}",
            "# The host that runs echobench:",
            f"echobench load ... --cluster {address} --cluster-certs {files.directory}",
            "# or, instead of --cluster-certs, Dask's own configuration (environment or",
            "# ~/.config/dask/distributed.yaml: distributed.comm.tls.*):",
            "export DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True \\",
            f"    DASK_DISTRIBUTED__COMM__TLS__CA_FILE={files.ca} \\",
            f"    DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT={files.cert('client')} \\",
            f"    DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY={files.key('client')}",
            f"# Keep {files.ca_key.name} off the cluster: whoever holds it can admit anyone.",
            "# Copy ca.pem and each role's pair only to the hosts of that role.",
        ]
    )
