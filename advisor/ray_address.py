"""Whether a Ray cluster's address answers at all, checked before ``ray.init``.

``ray.init(address="host:port")`` with nothing listening there retries for minutes inside Ray before it
fails, so a mistyped ``--ray-address`` looked like a hang. A plain TCP connection with a short timeout tells
at once that nothing answers; an address that answers goes on to ``ray.init`` as before (which reports
authentication and version problems itself).

Example:
    >>> unreachable_reason(None) is None and unreachable_reason("auto") is None
    True
    >>> unreachable_reason("no-port-given")
    "the Ray address 'no-port-given' has no port number: give it as host:port (e.g. 10.0.0.5:6379) or ray://host:port"
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

#: Addresses that ``ray.init`` resolves itself (a running local instance or a new one).
_RAY_KEYWORDS = frozenset({"auto", "local"})


def unreachable_reason(address: str | None, timeout_s: float = 5.0) -> str | None:
    """Why nothing can answer at ``address`` (no port, or no TCP connection within ``timeout_s``), or None.

    ``None``, ``"auto"`` and ``"local"`` are left to Ray. ``host:port`` (a cluster's GCS) and
    ``ray://host:port`` (Ray Client) are both tried with one TCP connection.
    """
    if address is None or address.strip().lower() in _RAY_KEYWORDS:
        return None
    text = address.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = parts.hostname, None
    if not host or port is None:
        return (f"the Ray address {address!r} has no port number: give it as host:port (e.g. 10.0.0.5:6379) "
                "or ray://host:port")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        return (f"nothing answers at {host}:{port} ({reason}): check --ray-address, and that the cluster is "
                "running (`ray status` on its head node)")
