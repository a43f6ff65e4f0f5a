"""Joining a Ray cluster (or starting a local instance) for the engines that run work as Ray tasks.

:func:`join_ray` is what ``advisor validate --engine ray`` and ``advisor score-catalog --engine ray`` both
call: Ray missing, an address where nothing answers, and a connection Ray itself refuses each end in a
:class:`RayUnavailable` whose message says what to do; each caller re-raises it as its own error.

``ray.init(address="host:port")`` with nothing listening there retries for minutes inside Ray before it
fails, so a mistyped ``--ray-address`` looked like a hang. A plain TCP connection with a short timeout tells
at once that nothing answers (:func:`unreachable_reason`); an address that answers goes on to ``ray.init``
(which reports authentication and version problems itself).

Example:
    >>> unreachable_reason(None) is None and unreachable_reason("auto") is None
    True
    >>> unreachable_reason("no-port-given")
    "the Ray address 'no-port-given' has no port number: give it as host:port (e.g. 10.0.0.5:6379) or ray://host:port"
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RAY_INSTALL_HINT = "the ray engine needs Ray, which is not installed: pip install 'finetune-advisor[ray]'"
_TOKEN_HINT = ("; if the cluster uses token authentication (the default for clusters started by Ray >= 2.59), "
               "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or ~/.ray/auth_token)")

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


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be joined; the message says which and what to do."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(RAY_INSTALL_HINT) from exc
    return ray


def join_ray(address: str | None) -> tuple[Any, bool]:
    """``(ray, started_here)``: Ray connected to the cluster at ``address`` (None: a running or a new local
    instance), and whether this call initialized it (the caller then shuts it down when done). An instance
    already initialized in this process is used as it is. Workers import this checkout (:func:`code_path`).
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    problem = unreachable_reason(address)
    if problem:
        raise RayUnavailable(f"cannot connect to Ray: {problem}")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": code_path()}})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray instance"
        raise RayUnavailable(f"cannot connect to Ray at {where}: {exc}{_TOKEN_HINT if address else ''}") from exc
    return ray, True


def code_path() -> str:
    """The folder holding the ``advisor`` package (and its siblings) before any PYTHONPATH already set, so Ray
    workers import this checkout without an install."""
    here = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
