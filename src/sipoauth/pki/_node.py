"""The node's own PKI files: a CA and the web ("tomcat") certificate it signs.

Layout of the directory (mode 0700 when we create or write into it):

==============  ======================================  ======
``ca.pem``      the node CA certificate                 0644
``ca.key``      its private key (PKCS #8)               0600
``tomcat.pem``  web certificate chain: leaf, then CA    0644
``tomcat.key``  web private key (PKCS #8)               0600
==============  ======================================  ======

Theory of operation of :meth:`NodePki.load_or_create`: fill in what is
missing, never replace what exists. Files are written one by one, atomically
(``_files.write_atomic``), keys before the certificates that need them, so an
interrupted first start leaves a prefix that the next start completes without
discarding a key: a key whose certificate is missing gets one; a missing
key is generated only when its certificate is missing too. What cannot be
completed (a certificate without its key) is an error that names the file.
A certificate that is expired, about to expire or does not name the host is
not replaced either: :meth:`NodePki.web_cert_problems` lists it for the node
to print, and the operator decides (REFERENCE-BEHAVIOUR "Operations").

In a node the database is the authority (``node/_identity.py``): the first
node of a cluster stores what these files hold, and from then on every node
writes them from the database at start. A web certificate from another CA is
installed with ``sipoauth certificates upload-tomcat``; ``ca.key`` is absent on
nodes other than the first (``ca_key`` is then ``None``).
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from ._ca import generate_ca, issue_server_certificate, utc
from ._errors import PkiError
from ._files import PRIVATE_MODE, PUBLIC_MODE, write_atomic
from ._names import host_matches
from ._pem import (
    PrivateKey,
    cert_to_pem,
    key_to_pem,
    load_cert_pem,
    load_certs_pem,
    load_key_pem,
)

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "WEB_CERT_FILE",
    "WEB_KEY_FILE",
    "NodePki",
    "chains_to",
    "issue_web_certificate",
    "issued_by",
]

CA_CERT_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca.key"
WEB_CERT_FILE: Final = "tomcat.pem"
WEB_KEY_FILE: Final = "tomcat.key"
#: Days before expiry from which the web certificate is reported.
EXPIRY_WARNING_DAYS: Final = 30


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PkiError(f"cannot read {path.name}: {exc.strerror}") from exc


def _load_key(path: Path, data: bytes) -> PrivateKey:
    try:
        return load_key_pem(data)
    except PkiError as exc:
        raise PkiError(f"{path.name}: {exc.description}") from exc


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (its signature verifies with that key)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chains_to(chain: tuple[x509.Certificate, ...], anchor: x509.Certificate) -> bool:
    """Whether ``chain`` (leaf first) links up to ``anchor`` by signatures."""
    for index, cert in enumerate(chain):
        if cert == anchor or issued_by(cert, anchor):
            return True
        if index + 1 >= len(chain) or not issued_by(cert, chain[index + 1]):
            return False
    return False


@dataclass(frozen=True)
class NodePki:
    """The node's CA and web certificate, as loaded from ``directory``."""

    directory: Path
    """Where the four files live."""
    hostname: str
    """The host name the web certificate must name."""
    ca_cert: x509.Certificate
    """The CA that signed the web certificate (published as phone-edge-trust)."""
    ca_key: PrivateKey | None = field(repr=False)
    """The CA key, or ``None`` when the operator uses an external CA."""
    web_cert: x509.Certificate
    """The leaf every TLS listener presents."""
    web_key: PrivateKey = field(repr=False)
    """Its private key."""
    web_chain: tuple[x509.Certificate, ...]
    """``tomcat.pem`` as certificates, leaf first."""
    web_chain_pem: bytes = field(repr=False)
    """``tomcat.pem`` as written (leaf, then CA)."""

    @property
    def ca_cert_path(self) -> Path:
        """``ca.pem``."""
        return self.directory / CA_CERT_FILE

    @property
    def ca_key_path(self) -> Path:
        """``ca.key``."""
        return self.directory / CA_KEY_FILE

    @property
    def web_cert_path(self) -> Path:
        """``tomcat.pem`` (the chain file to hand to ``ssl``)."""
        return self.directory / WEB_CERT_FILE

    @property
    def web_chain_path(self) -> Path:
        """``tomcat.pem`` again, under the name of what it holds (leaf + CA)."""
        return self.directory / WEB_CERT_FILE

    @property
    def web_key_path(self) -> Path:
        """``tomcat.key``."""
        return self.directory / WEB_KEY_FILE

    @property
    def ca_cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return cert_to_pem(self.ca_cert)

    @classmethod
    def load_or_create(
        cls, directory: Path, *, hostname: str, now: datetime
    ) -> tuple[NodePki, bool]:
        """Load the node PKI, creating whatever is missing; ``(pki, created)``.

        ``created`` is true when any file was written. The web certificate
        names ``hostname``, ``localhost``, ``127.0.0.1`` and ``::1``.
        """
        directory = Path(directory)
        paths = {n: directory / n for n in (CA_CERT_FILE, CA_KEY_FILE, WEB_CERT_FILE, WEB_KEY_FILE)}
        data = {name: _read(path) for name, path in paths.items()}
        created = False

        def write(name: str, content: bytes, mode: int) -> None:
            nonlocal created
            try:
                if not created:
                    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                    os.chmod(directory, 0o700)
                    created = True
                write_atomic(paths[name], content, mode=mode)
            except OSError as exc:
                raise PkiError(f"cannot write {name}: {exc.strerror}") from exc
            data[name] = content

        # The CA: generate both, or self-sign a certificate for a lone key.
        ca_key: PrivateKey | None = None
        if data[CA_KEY_FILE] is not None:
            ca_key = _load_key(paths[CA_KEY_FILE], data[CA_KEY_FILE])
        ca_pem = data[CA_CERT_FILE]
        if ca_pem is None:
            if data[WEB_CERT_FILE] is not None:
                raise PkiError(f"{WEB_CERT_FILE} exists but {CA_CERT_FILE} is missing")
            if ca_key is not None and not isinstance(ca_key, ec.EllipticCurvePrivateKey):
                raise PkiError(f"{CA_KEY_FILE} must be an EC key to issue a new CA certificate")
            ca_cert, new_key = generate_ca(f"sipoauth CA {hostname}"[:64], now=now, key=ca_key)
            if ca_key is None:
                write(CA_KEY_FILE, key_to_pem(new_key), PRIVATE_MODE)
                ca_key = new_key
            write(CA_CERT_FILE, cert_to_pem(ca_cert), PUBLIC_MODE)
        else:
            try:
                ca_cert = load_cert_pem(ca_pem)
            except PkiError as exc:
                raise PkiError(f"{CA_CERT_FILE}: {exc.description}") from exc
        if ca_key is not None and ca_key.public_key() != ca_cert.public_key():
            raise PkiError(f"{CA_KEY_FILE} does not belong to {CA_CERT_FILE}")

        # The web certificate: issue one for an existing or a new key.
        web_key: PrivateKey | None = None
        if data[WEB_KEY_FILE] is not None:
            web_key = _load_key(paths[WEB_KEY_FILE], data[WEB_KEY_FILE])
        if data[WEB_CERT_FILE] is None:
            if ca_key is None:
                raise PkiError(
                    f"{WEB_CERT_FILE} is missing and {CA_KEY_FILE} is not there to issue it"
                )
            if web_key is not None and not isinstance(web_key, ec.EllipticCurvePrivateKey):
                raise PkiError(f"{WEB_KEY_FILE} must be an EC key to issue a new certificate")
            cert, new_web_key = issue_web_certificate(
                ca_cert, ca_key, hostname=hostname, now=now, key=web_key
            )
            if web_key is None:
                write(WEB_KEY_FILE, key_to_pem(new_web_key), PRIVATE_MODE)
                web_key = new_web_key
            write(WEB_CERT_FILE, cert_to_pem(cert) + cert_to_pem(ca_cert), PUBLIC_MODE)
        if web_key is None:
            raise PkiError(f"{WEB_CERT_FILE} exists but {WEB_KEY_FILE} is missing")
        chain_pem = data[WEB_CERT_FILE] or b""
        try:
            chain = tuple(load_certs_pem(chain_pem))
        except PkiError as exc:
            raise PkiError(f"{WEB_CERT_FILE}: {exc.description}") from exc
        if chain[0].public_key() != web_key.public_key():
            raise PkiError(f"{WEB_KEY_FILE} does not belong to {WEB_CERT_FILE}")
        pki = cls(
            directory=directory,
            hostname=hostname,
            ca_cert=ca_cert,
            ca_key=ca_key,
            web_cert=chain[0],
            web_key=web_key,
            web_chain=chain,
            web_chain_pem=chain_pem,
        )
        return pki, created

    def web_cert_problems(
        self, now: datetime, *, warn_days: int = EXPIRY_WARNING_DAYS
    ) -> list[str]:
        """What an operator should fix about the web certificate (empty if nothing)."""
        problems: list[str] = []
        at = utc(now)
        cert = self.web_cert
        if at < cert.not_valid_before_utc:
            start = cert.not_valid_before_utc
            problems.append(f"web certificate is not valid before {start:%Y-%m-%d %H:%M} UTC")
        if at >= cert.not_valid_after_utc:
            problems.append(f"web certificate expired on {cert.not_valid_after_utc:%Y-%m-%d} UTC")
        elif at >= cert.not_valid_after_utc - timedelta(days=warn_days):
            left = (cert.not_valid_after_utc - at).days
            problems.append(
                f"web certificate expires in {left} days ({cert.not_valid_after_utc:%Y-%m-%d} UTC)"
            )
        if not host_matches(_cert_names(cert), self.hostname):
            problems.append(f"web certificate does not name this host ({self.hostname})")
        if not chains_to(self.web_chain, self.ca_cert):
            problems.append(f"web certificate is not signed by {CA_CERT_FILE}")
        return problems

    def key_file_problems(self) -> list[str]:
        """Key files readable by anyone but their owner (they should be 0600)."""
        problems = []
        for path in (self.ca_key_path, self.web_key_path):
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o077:
                problems.append(f"{path.name} is accessible to others (mode {mode:04o}, want 0600)")
        return problems


def issue_web_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    hostname: str,
    now: datetime,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A web certificate naming ``hostname``, ``localhost``, ``127.0.0.1`` and
    ``::1``, issued by the CA (a new key unless ``key`` is given)."""
    host_is_ip = _is_ip(hostname)
    return issue_server_certificate(
        ca_cert,
        ca_key,
        common_name=hostname if len(hostname) <= 64 else "sipoauth web",
        dns_names=["localhost"] if host_is_ip else [hostname, "localhost"],
        ip_addresses=[hostname, "127.0.0.1", "::1"] if host_is_ip else ["127.0.0.1", "::1"],
        now=now,
        key=key,
    )


def _cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *san.get_values_for_type(x509.DNSName),
        *map(str, san.get_values_for_type(x509.IPAddress)),
    ]
