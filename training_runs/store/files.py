"""Write an output file completely, then put it in place in one step, with the permissions a plain write gives.

The file counterpart of :func:`training_runs.staging.staged_directory`. ``tempfile.mkstemp`` makes its
file private (0600) whatever the umask, so a file written through it and renamed into place is
unreadable to the user's group; here the temporary file is created as ``open()`` creates files
(0666 filtered by the umask), and a file being replaced keeps its own permissions.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "rows.csv"
    >>> with staged_file(out) as staging:
    ...     _ = staging.write_text("name,score\\n")
    >>> out.read_text()
    'name,score\\n'
"""
from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Permissions asked for a new file before the umask filters them, as ``open()`` does.
NEW_FILE_MODE = 0o666


@contextmanager
def staged_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary file beside ``target``; when the block succeeds it replaces ``target``.

    If the block raises, the temporary file is deleted and ``target`` is untouched, so readers see the
    old file or the new one, never half of one. A new ``target`` gets ``0666 & ~umask``; an existing one
    keeps its mode. The folder must exist (``OSError`` otherwise).
    """
    target = Path(target)
    staging = _create_beside(target)
    try:
        if target.exists():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
        yield staging
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def write_bytes_atomically(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` through :func:`staged_file`."""
    with staged_file(target) as staging:
        staging.write_bytes(data)


def _create_beside(target: Path) -> Path:
    for _ in range(100):
        candidate = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # O_EXCL: never reuse another writer's file; the kernel applies the umask to NEW_FILE_MODE.
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"cannot create a temporary file beside {target}")
