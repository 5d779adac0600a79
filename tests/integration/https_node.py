"""A hosted node for tests: an HTTPS reverse proxy in front of Anvil that wants credentials.

Hosted nodes (providers, or one's own node behind nginx) speak JSON-RPC over HTTPS with a
certificate, and refuse a request without the right ``Authorization`` header (a bearer token,
or basic auth from ``https://user:password@host``). This proxy does the same on 127.0.0.1 and a
free port, with a private CA and a server certificate that :func:`make_private_ca` makes with
``cryptography``, and forwards every accepted request body to Anvil unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certificates:
    """A private CA's certificate, and the server's certificate and key it signed (PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path


def make_private_ca(folder: Path, host: str = HOST) -> Certificates:
    """A CA and a server certificate for ``host`` (an IP address), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "colearn-chain test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def _ca_key_usage() -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def basic_credentials(user: str, password: str) -> str:
    """The ``Authorization`` value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class HostedNode:
    """The running proxy: its URL, and how many requests it refused."""

    url: str
    refused: list[str]


@contextlib.contextmanager
def hosted_node(upstream: str, certificates: Certificates, accepted: set[str]) -> Iterator[HostedNode]:
    """An HTTPS proxy to ``upstream`` accepting requests whose ``Authorization`` is in ``accepted``.

    Any other request gets 401 (with no body a client could mistake for JSON-RPC); the server
    always stops on exit.
    """
    refused: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Authorization") not in accepted:
                refused.append(self.headers.get("Authorization") or "")
                self._reply(401, b"unauthorized", {"WWW-Authenticate": 'Basic realm="node"'})
                return
            request = urllib.request.Request(upstream, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                self._reply(200, response.read(), {"Content-Type": "application/json"})

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="hosted-node", daemon=True)
    thread.start()
    try:
        yield HostedNode(f"https://{HOST}:{server.server_address[1]}", refused)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
