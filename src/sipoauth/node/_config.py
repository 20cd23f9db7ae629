"""Node process configuration: where its data lives and how it listens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Re-exported: they live where the command line reads them without importing the node.
from sipoauth._defaults import DEFAULT_DATA_DIR as DEFAULT_DATA_DIR
from sipoauth._defaults import default_hostname as default_hostname
from sipoauth.admin._services import COMMAND_TTL


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """How one `sipoauth serve` process runs."""

    data_dir: Path
    """Keys, certificates and (embedded mode) the SQLite database live here."""
    database_url: str
    """`sqlite+aiosqlite:///…` (embedded) or `postgresql://…` (cluster)."""
    node_name: str
    """This node's entry in the servers table."""
    hostname: str
    """Host name in certificates, challenges (authz_server) and Warning headers."""
    bind: str = "0.0.0.0"  # noqa: S104 - a call-control node serves the network
    """Address the listeners bind to."""
    max_message_size: int = 65535
    """Largest SIP message accepted on a stream (bytes)."""
    handshake_timeout: float = 10.0
    """Seconds a client gets to finish the TLS handshake."""
    idle_timeout: float = 900.0
    """Close a SIP connection silent for this long (a phone refreshes every 120 s
    and may send CRLF keep-alives)."""
    mirror_interval: float = 1.0
    """Seconds between write-behind flushes of bindings to the store."""
    mirror_slack: float = 60.0
    """A refresh that only moves a binding's expiry is mirrored once the stored
    expiry lags by this many seconds (new, changed and removed bindings at once)."""
    memory_trim_interval: float = 5.0
    """Seconds between returns of freed heap memory to the OS (glibc malloc_trim)."""
    purge_interval: float = 86400.0
    """Seconds between purges of expired refresh tokens and codes (daily)."""
    command_retention: float = 7 * 86400.0
    """Seconds finished service commands are kept (what `utils service` waits on)."""
    timer_interval: float = 1.0
    """Seconds between binding / transaction expiry passes."""
    control_poll_interval: float = 5.0
    """Seconds between two looks for service commands when no notification came
    (one may be lost while the database link is down)."""
    control_command_ttl: float = COMMAND_TTL
    """A service command this many seconds old when the node gets to it (it was
    queued while the node was down) fails as expired instead of running."""
    port_overrides: tuple[tuple[str, int], ...] = ()
    """Listener ports that replace the node's configured ones, e.g. `(("oauth", 0),)`
    for an ephemeral port in tests. Names: `oauth` (5090), `mra` (5091), `web` (8443),
    `tftp` (6970), `tftp_secure` (6971). The configuration files keep listing the
    configured ports."""
