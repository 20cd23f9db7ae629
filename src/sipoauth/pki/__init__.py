"""sipoauth.pki: the node CA, the web ("tomcat") certificate, TLS contexts and
client-certificate checks for edge (Expressway-C) connections."""

from ._ca import generate_ca, issue_client_certificate, issue_server_certificate
from ._chain import verify_chain
from ._errors import ChainVerificationError, PkiError
from ._names import EdgeEntry, host_matches, match_edge, peer_names
from ._node import NodePki, chains_to, issue_web_certificate, issued_by
from ._pem import (
    PrivateKey,
    cert_to_pem,
    fingerprint_sha256,
    key_to_pem,
    load_cert_pem,
    load_certs_pem,
    load_key_pem,
)
from ._tls import client_ssl_context, mtls_server_ssl_context, server_ssl_context

__all__ = [
    "ChainVerificationError",
    "EdgeEntry",
    "NodePki",
    "PkiError",
    "PrivateKey",
    "cert_to_pem",
    "chains_to",
    "client_ssl_context",
    "fingerprint_sha256",
    "generate_ca",
    "host_matches",
    "issue_client_certificate",
    "issue_server_certificate",
    "issue_web_certificate",
    "issued_by",
    "key_to_pem",
    "load_cert_pem",
    "load_certs_pem",
    "load_key_pem",
    "match_edge",
    "mtls_server_ssl_context",
    "peer_names",
    "server_ssl_context",
    "verify_chain",
]
