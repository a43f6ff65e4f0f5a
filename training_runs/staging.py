"""Write a directory completely, then put it in place in one step: readers never see half of one."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_directory(target: str | os.PathLike[str], *, prefix: str | None = None,
                     mode: int | None = None) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; when the block succeeds it becomes ``target``.

    A ``target`` already there is moved aside first and deleted only once the new one is in place, so an
    interruption leaves either the old directory or the new one. If the block raises, the staging
    directory is deleted and ``target`` is untouched. ``mode``: permissions to give the directory
    (``tempfile.mkdtemp`` makes it private); ``prefix``: of the staging directory's name (default
    ``.<target name>.``).

    Example:
        >>> with staged_directory(tmp / "model") as staging:  # doctest: +SKIP
        ...     (staging / "config.json").write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix or f".{target.name}.", dir=target.parent))
    retired = None
    try:
        yield staging
        if mode is not None:
            os.chmod(staging, mode)
        if target.exists():
            retired = target.parent / f".retired-{staging.name}"
            os.replace(target, retired)
        os.replace(staging, target)
    except BaseException:
        if retired is not None and not target.exists():
            os.replace(retired, target)  # the swap itself failed: put the old directory back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
