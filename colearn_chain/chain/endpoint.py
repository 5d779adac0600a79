"""How to reach a JSON-RPC node: its URL, and what a hosted node needs to let a client in.

A hosted node (a provider's endpoint, or one's own behind a reverse proxy) wants credentials:
HTTP basic auth in the URL (``https://user:password@host``) or a header such as
``Authorization: Bearer TOKEN``. Its TLS certificate is verified by default (the system's CAs,
or ``REQUESTS_CA_BUNDLE``), or against a private CA's certificate. Credentials never leave this
object in anything shown or saved: messages and deployment files use :attr:`RpcEndpoint.public_url`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from colearn_chain.errors import ColearnRuntimeError, ColearnValueError

#: An HTTP header name (RFC 9110's token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class NodeAccessDenied(ColearnRuntimeError):
    """The node answered, but refused the credentials (HTTP 401 or 403): retrying cannot help."""


class NodeCertificateRejected(ColearnRuntimeError):
    """The node's TLS certificate could not be verified: retrying cannot help."""


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` as ``(name, value)``; a malformed header is a one-line error.

    The value is never quoted in the error: it is usually a secret.
    """
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _HEADER_NAME.match(name):
        shown = name if _HEADER_NAME.match(name) else "(no valid name)"
        raise ColearnValueError(f"--rpc-header takes 'Name: value', such as 'Authorization: Bearer TOKEN'; got {shown}")
    if not value or any(c in value for c in "\r\n\0"):
        raise ColearnValueError(f"--rpc-header {name}: needs a value on one line")
    return name, value


@dataclass(frozen=True)
class RpcEndpoint:
    """A node's URL (perhaps ``https://user:password@host/path``), extra headers, a private CA.

    Attributes
    ----------
    url:
        The URL requests go to, credentials included.
    headers:
        ``(name, value)`` pairs sent with every request (``Authorization``, an API key header).
    ca_file:
        A PEM file of the CA that signed an ``https://`` node's certificate; None verifies
        against the system's CAs. Verification is never turned off.
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ColearnValueError(f"--rpc must be an http(s) URL, got {_without_userinfo(self.url)!r}")
        if self.ca_file is not None:
            if parts.scheme != "https":
                raise ColearnValueError("--rpc-ca applies to an https:// node only")
            if not Path(self.ca_file).is_file():
                raise ColearnValueError(f"--rpc-ca {self.ca_file} is not a file")

    @classmethod
    def of(cls, url: str, headers: Iterable[str] = (), ca_file: Path | None = None) -> RpcEndpoint:
        """The endpoint the ``--rpc``, ``--rpc-header`` and ``--rpc-ca`` options describe."""
        return cls(url, tuple(parse_header(text) for text in headers), ca_file)

    @property
    def public_url(self) -> str:
        """The URL without its ``user:password@``: what messages show and deployment files keep."""
        return _without_userinfo(self.url)

    def request_kwargs(self, timeout: float) -> dict[str, object]:
        """Keyword arguments of every HTTP request (requests' names): headers, TLS, timeout.

        Basic auth needs nothing here: requests takes it from the URL's ``user:password@``.
        """
        kwargs: dict[str, object] = {"timeout": timeout}
        if self.headers:
            kwargs["headers"] = {"Content-Type": "application/json", **dict(self.headers)}
        if self.ca_file is not None:
            kwargs["verify"] = str(self.ca_file)
        return kwargs

    def redact(self, text: str) -> str:
        """``text`` (an error message) with every credential of this endpoint taken out."""
        userinfo = urlsplit(self.url).netloc.rpartition("@")[0]
        if userinfo:
            text = text.replace(userinfo + "@", "")
        for _, value in self.headers:
            text = text.replace(value, "***")
        return text


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
