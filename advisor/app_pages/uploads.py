"""Uploaded files: check the type and size, keep the bytes in a private folder, read the column names.

No Streamlit here, so the checks are unit-tested. Errors are ``DatasetError`` (a ``ValueError``) with
a message the page shows as is.

Example:
    >>> path = save_upload("reviews.csv", b"text,label\\nok,1\\n", tmp_dir, limit_mb=200)  # doctest: +SKIP
    >>> dataset_columns(path)                                                             # doctest: +SKIP
    ['text', 'label']
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tasks.errors import DatasetError

#: File types the advisor page accepts; the text formats also gzip-compressed (``data.csv.gz``), which the
#: loader reads streamed.
UPLOAD_TYPES: tuple[str, ...] = ("csv", "jsonl", "json", "parquet", "tsv", "ndjson")
COMPRESSIBLE_TYPES: tuple[str, ...] = ("csv", "jsonl", "json", "tsv", "ndjson")
#: What the upload widget lets through (it sees only the last suffix); :func:`save_upload` checks the rest.
WIDGET_TYPES: tuple[str, ...] = (*UPLOAD_TYPES, "gz")


def save_upload(name: str, data: bytes, directory: Path, *, limit_mb: int) -> Path:
    """Write uploaded bytes under ``directory`` (named by their hash) and return the path.

    Raises DatasetError for an unsupported type, an empty file or one over ``limit_mb`` megabytes.
    """
    suffixes = [s.lower().lstrip(".") for s in Path(name).suffixes]
    kind = suffixes[-2] if len(suffixes) >= 2 and suffixes[-1] == "gz" else (suffixes[-1] if suffixes else "")
    allowed = COMPRESSIBLE_TYPES if suffixes[-1:] == ["gz"] else UPLOAD_TYPES
    if kind not in allowed:
        raise DatasetError(f"{name}: unsupported file type '.{'.'.join(suffixes[-2:]) if suffixes else ''}'; upload one of "
                           + ", ".join(f".{t}" for t in UPLOAD_TYPES) + " (the text formats also as .gz)")
    if not data:
        raise DatasetError(f"{name}: the file is empty")
    if len(data) > limit_mb * 1024 * 1024:
        raise DatasetError(f"{name}: {len(data) / 2**20:.1f} MB is over the {limit_mb} MB upload limit; "
                           "profile big files with `advisor profile FILE --sample N` instead")
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[-80:]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest}-{safe}"
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def dataset_columns(path: str | Path) -> list[str]:
    """The raw column names of a dataset file (read from its header, not the whole file)."""
    from tasks.readers import open_file

    return list(open_file(Path(path)).columns)


def default_columns(columns: list[str]) -> dict[str, object]:
    """A first guess at the column options for a file with these columns.

    ``prompt``/``completion`` (or ``input``/``output``) pairs are used as they are; otherwise the last
    column is taken as the target and the others as inputs.

    Example:
        >>> default_columns(["review", "label"])
        {'mode': 'template', 'input_columns': ['review'], 'target_col': 'label'}
    """
    for prompt, completion in (("prompt", "completion"), ("input", "output"), ("question", "answer")):
        if prompt in columns and completion in columns:
            return {"mode": "pair", "prompt_col": prompt, "completion_col": completion}
    if len(columns) < 2:
        return {"mode": "pair", "prompt_col": columns[0] if columns else None,
                "completion_col": columns[0] if columns else None}
    return {"mode": "template", "input_columns": columns[:-1], "target_col": columns[-1]}


def default_template(input_columns: list[str]) -> str:
    """A plain template naming each input column.

    Example:
        >>> print(default_template(["subject", "body"]))
        subject: {subject}
        <BLANKLINE>
        body: {body}
    """
    if len(input_columns) == 1:
        return f"{{{input_columns[0]}}}"
    return "\n\n".join(f"{c}: {{{c}}}" for c in input_columns)
