"""The adapters directory: safe name resolution, discovery, and reading a peft LoRA adapter from disk.

Layout (what the QLoRA runner writes): ``<adapters_root>/<adapter_name>/`` holding peft's
``adapter_config.json`` and ``adapter_model.safetensors`` (and the runner's ``run.json``). An adapter is
addressed by its directory name, or by the ``run_id`` recorded in its ``run.json``.

What an adapter directory may hold is treated as hostile input:

- names are checked before any file-system access: one path component of letters, digits, ``.``, ``_``
  and ``-`` (no ``/``, no ``..``), and the resolved directory (symlinks followed) must lie inside the root;
- every file the server reads is resolved too and refused when it lies outside the root (a symlinked
  weights file cannot point at ``/etc``), and is read with a size bound;
- ``adapter_config.json`` is validated field by field; ``rank_pattern`` / ``alpha_pattern`` keys are module
  names or dotted suffixes of one (``q_proj``, ``layers.0.self_attn.q_proj``, ``^model.layers.0.mlp.up_proj``
  for a whole path), matched by string comparison: peft would run them as regular expressions, which lets a
  config like ``{"(.|.){0,24}Z": 8}`` take seconds of CPU per module;
- the safetensors header is checked (dtypes, shapes, offsets, pairing, ranks) before any tensor is read, so
  ``inspect_adapter`` decides cheaply whether an adapter can be served; ``read_adapter`` then refuses
  weights holding NaN or infinity. Pickled ``adapter_model.bin`` files are refused: loading them could run
  arbitrary code.

Example:
    >>> directory = AdapterDirectory("/srv/adapters")           # doctest: +SKIP
    >>> directory.names()                                        # doctest: +SKIP
    ['sentiment', 'gsm8k']
    >>> weights = read_adapter(directory.resolve("sentiment"))   # doctest: +SKIP
    >>> weights.rank, sorted(weights.modules)[:1]                # doctest: +SKIP
    (8, ['model.layers.0.self_attn.q_proj'])
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from training_runs.serve.errors import AdapterFormatError, AdapterNotFoundError, InvalidAdapterNameError

#: What an adapter name may look like: one path component, no leading dot.
ADAPTER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
RUN_FILE = "run.json"
#: Size bounds of the small files (a peft config is a few KB; a safetensors header a few hundred).
MAX_CONFIG_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 20
#: Bounds on what one adapter may declare, far above any real LoRA adapter.
MAX_TENSORS = 65536
MAX_PATTERN_KEYS = 4096
MAX_KEY_CHARS = 1024
#: The prefix peft puts in front of module names in a saved adapter.
_PEFT_PREFIX = "base_model.model."
_KEY_PATTERN = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")
#: A ``rank_pattern``/``alpha_pattern`` key this server accepts: an optional ``^`` (the whole module path),
#: a dotted module name, an optional ``$`` (redundant: keys always match the end of the path).
_MODULE_KEY = re.compile(r"(\^?)([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\$?")
#: Floating-point safetensors dtypes and their sizes in bytes (LoRA weights are never integers).
_FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}


def validate_adapter_name(name: object) -> str:
    """Return ``name`` if it is a safe adapter name, else raise ``InvalidAdapterNameError``.

    Example:
        >>> validate_adapter_name("sentiment-r8")
        'sentiment-r8'
        >>> validate_adapter_name("../etc")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training_runs.serve.errors.InvalidAdapterNameError: invalid model name '../etc': ...
    """
    if not isinstance(name, str) or not ADAPTER_NAME_PATTERN.fullmatch(name) or ".." in name:
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise InvalidAdapterNameError(
            f"invalid model name {shown}: an adapter name is one directory name of letters, digits, '.', '_' "
            "and '-' (at most 128 characters, no '/' and no '..')",
            param="model",
        )
    return name


@dataclass(frozen=True)
class AdapterDirectory:
    """The root folder that holds one sub-directory per adapter.

    Example:
        >>> AdapterDirectory("/nonexistent").names()
        []
    """

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    def names(self) -> list[str]:
        """Adapter directories inside the root holding an adapter config and safetensors weights, sorted.

        A complete directory is not necessarily servable (``AdapterCatalog`` checks its contents).
        """
        if not self.root.is_dir():
            return []
        root = self.root.resolve()
        found = []
        for child in sorted(root.iterdir()):
            if ADAPTER_NAME_PATTERN.fullmatch(child.name) and ".." not in child.name and self._inside(child, root):
                found.append(child.name)
        return found

    def run_ids(self) -> dict[str, str]:
        """``{run_id: adapter_name}`` for adapters whose ``run.json`` records a run id."""
        aliases: dict[str, str] = {}
        root = self.root.resolve()
        for name in self.names():
            try:
                raw = read_contained_file(root / name / RUN_FILE, root, limit=MAX_CONFIG_BYTES, adapter=name)
                run_id = json.loads(raw).get("run_id")
            except (AdapterFormatError, ValueError, AttributeError, RecursionError):
                continue  # no run.json, or one that is unreadable: the adapter is still reachable by its name
            if isinstance(run_id, (str, int)) and str(run_id) != name:
                aliases[str(run_id)] = name
        return aliases

    def resolve(self, name: str) -> Path:
        """The directory of adapter ``name`` (or of the adapter whose run id is ``name``), checked to be safe.

        Raises ``InvalidAdapterNameError`` for unsafe names, ``AdapterNotFoundError`` when nothing of that
        name exists inside the root, and ``AdapterFormatError`` for a directory that is not a usable adapter.
        """
        validate_adapter_name(name)
        root = self.root.resolve()
        try:
            candidate = (root / name).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            candidate = root.parent
        if candidate.parent != root:  # a symlink pointing elsewhere, or a name that escaped the root
            raise InvalidAdapterNameError(
                f"invalid model name {name!r}: it resolves outside the adapters directory {root}", param="model"
            )
        if self._is_adapter(candidate):
            return candidate
        alias = self.run_ids().get(name)
        if alias is not None:
            return self.resolve(alias)
        if candidate.is_dir() and (candidate / "adapter_model.bin").is_file():
            raise AdapterFormatError(
                f"adapter {name!r} only has a pickled adapter_model.bin; save it as {WEIGHTS_FILE} "
                "(peft's save_pretrained(safe_serialization=True)) so it can be loaded safely",
                param="model",
            )
        if candidate.is_dir() and (candidate / CONFIG_FILE).is_file():
            raise AdapterFormatError(f"adapter {name!r} has {CONFIG_FILE} but no {WEIGHTS_FILE}", param="model")
        raise AdapterNotFoundError(
            f"the model {name!r} does not exist: it is neither the base model nor an adapter in {root} "
            "(GET /v1/models lists what is available)",
            param="model",
        )

    @classmethod
    def _inside(cls, child: Path, root: Path) -> bool:
        """Whether ``child`` is a complete adapter directory that stays inside ``root`` once symlinks are followed."""
        try:
            return child.resolve().parent == root and cls._is_adapter(child)
        except (OSError, RuntimeError):  # a symlink loop, a vanished entry
            return False

    @staticmethod
    def _is_adapter(path: Path) -> bool:
        return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def contained_file(path: str | os.PathLike[str], root: str | os.PathLike[str], *, adapter: str) -> Path:
    """``path`` with symlinks resolved, if it is a regular file inside ``root``; else ``AdapterFormatError``.

    Example:
        >>> contained_file("/etc/passwd", "/srv/adapters", adapter="evil")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training_runs.serve.errors.AdapterFormatError: adapter 'evil': /etc/passwd resolves to ... outside ...
    """
    path = Path(path)
    try:
        root, resolved = Path(root).resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise AdapterFormatError(f"adapter {adapter!r}: cannot resolve {path.name}: {exc}") from None
    if not resolved.is_relative_to(root):
        raise AdapterFormatError(
            f"adapter {adapter!r}: {path} resolves to {resolved}, outside the adapters directory {root}; "
            "the server reads no file outside it"
        )
    if not resolved.is_file():
        raise AdapterFormatError(f"adapter {adapter!r}: {path.name} is missing or is not a regular file")
    return resolved


def read_contained_file(path: str | os.PathLike[str], root: str | os.PathLike[str], *, limit: int, adapter: str) -> bytes:
    """The bytes of ``path`` (see ``contained_file``), refused when larger than ``limit`` bytes."""
    with _open_contained(path, root, adapter) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise AdapterFormatError(f"adapter {adapter!r}: {Path(path).name} has {size} bytes, more than the limit of {limit}")
        return handle.read(limit + 1)[:limit]


def _open_contained(path, root, adapter: str):
    resolved = contained_file(path, root, adapter=adapter)
    try:  # O_NOFOLLOW: the resolved path must not have become a symlink since it was checked
        return os.fdopen(os.open(resolved, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
    except OSError as exc:
        raise AdapterFormatError(f"adapter {adapter!r}: cannot read {Path(path).name}: {exc.strerror}") from exc


@dataclass(frozen=True)
class LoraSettings:
    """The parts of a peft ``LoraConfig`` that decide how an adapter's weights are applied.

    ``rank_pattern`` / ``alpha_pattern`` hold ``(whole_path, module_name, value)`` in the config's order.

    Example:
        >>> settings = parse_lora_config({"peft_type": "LORA", "r": 8, "lora_alpha": 16}, "a")
        >>> settings.scaling("model.layers.0.self_attn.q_proj", 8)
        2.0
    """

    r: int
    lora_alpha: float
    use_rslora: bool = False
    rank_pattern: tuple[tuple[bool, str, int], ...] = ()
    alpha_pattern: tuple[tuple[bool, str, float], ...] = ()

    def rank(self, module: str) -> int:
        """The rank the config gives ``module`` (peft's rule: the first pattern key that matches, else ``r``)."""
        return _pattern_value(self.rank_pattern, module, self.r)

    def scaling(self, module: str, rank: int) -> float:
        """``alpha / r`` (``alpha / sqrt(r)`` with rsLoRA) for ``module``."""
        alpha = _pattern_value(self.alpha_pattern, module, self.lora_alpha)
        return alpha / math.sqrt(rank) if self.use_rslora else alpha / rank


def parse_lora_config(config: object, name: str) -> LoraSettings:
    """Validate a decoded ``adapter_config.json``; raise ``AdapterFormatError`` naming the first problem.

    Supported: plain LoRA on linear layers (any target modules, per-module ranks and alphas, rsLoRA).
    Refused by name: other peft types, DoRA, ``modules_to_save``, trained biases.
    """
    if not isinstance(config, dict):
        raise AdapterFormatError(f"adapter {name!r}: {CONFIG_FILE} is not a JSON object")
    peft_type = config.get("peft_type", "LORA")
    if not isinstance(peft_type, str) or peft_type.upper() != "LORA":
        raise AdapterFormatError(f"adapter {name!r} is a {_short(peft_type)} adapter; this server applies LoRA adapters only")
    for flag, feature in (("use_dora", "DoRA"), ("modules_to_save", "modules_to_save")):
        if config.get(flag):
            raise AdapterFormatError(f"adapter {name!r} uses {feature}, which this server does not support")
    if config.get("bias", "none") not in ("none", None):
        raise AdapterFormatError(
            f"adapter {name!r} trains biases (bias={_short(config['bias'])}); only bias='none' is supported"
        )
    r = config.get("r", 8)
    if not _is_count(r):
        raise AdapterFormatError(f"adapter {name!r}: 'r' in {CONFIG_FILE} must be a positive integer, got {_short(r)}")
    alpha = config.get("lora_alpha", r)
    if not _is_finite_number(alpha):
        raise AdapterFormatError(f"adapter {name!r}: 'lora_alpha' in {CONFIG_FILE} must be a number, got {_short(alpha)}")
    rslora = config.get("use_rslora", False)
    if not isinstance(rslora, bool):
        raise AdapterFormatError(f"adapter {name!r}: 'use_rslora' in {CONFIG_FILE} must be true or false")
    return LoraSettings(
        r=r, lora_alpha=float(alpha), use_rslora=rslora,
        rank_pattern=_parse_pattern(config.get("rank_pattern"), "rank_pattern", name, _is_count, "a positive integer"),
        alpha_pattern=tuple(
            (whole, key, float(value)) for whole, key, value in
            _parse_pattern(config.get("alpha_pattern"), "alpha_pattern", name, _is_finite_number, "a number")
        ),
    )


def _parse_pattern(pattern: object, field_name: str, name: str, valid_value, value_kind: str) -> tuple:
    if pattern is None:
        return ()
    if not isinstance(pattern, dict):
        raise AdapterFormatError(f"adapter {name!r}: '{field_name}' in {CONFIG_FILE} must be an object")
    if len(pattern) > MAX_PATTERN_KEYS:
        raise AdapterFormatError(f"adapter {name!r}: '{field_name}' has {len(pattern)} keys; at most {MAX_PATTERN_KEYS}")
    parsed = []
    for key, value in pattern.items():
        match = _MODULE_KEY.fullmatch(key) if len(key) <= MAX_KEY_CHARS else None
        if match is None:
            raise AdapterFormatError(
                f"adapter {name!r}: '{field_name}' key {_short(key)} is not a module name or a dotted suffix of one "
                "(such as 'q_proj', 'layers.0.self_attn.q_proj' or '^model.layers.0.mlp.up_proj'); this server "
                "does not run regular expressions from adapter configs"
            )
        if not valid_value(value):
            raise AdapterFormatError(
                f"adapter {name!r}: '{field_name}' value for {_short(key)} must be {value_kind}, got {_short(value)}"
            )
        parsed.append((match[1] == "^", match[2], value))
    return tuple(parsed)


def _pattern_value(pattern: tuple, module: str, default):
    """peft's rule for ``rank_pattern``/``alpha_pattern``: the first key that matches the end of the path."""
    for whole_path, key, value in pattern:
        if module == key or (not whole_path and module.endswith("." + key)):
            return value
    return default


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the safetensors header declares it."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class ModuleLora:
    """The LoRA pair of one module: tensor names, shapes (``A`` is ``[r, in]``, ``B`` is ``[out, r]``), scaling."""

    a_key: str
    b_key: str
    a_shape: tuple[int, int]
    b_shape: tuple[int, int]
    scaling: float

    @property
    def rank(self) -> int:
        return self.a_shape[0]


@dataclass(frozen=True)
class AdapterManifest:
    """What an adapter directory declares, read without loading its tensors: enough to decide whether it can be served.

    Example:
        >>> manifest = inspect_adapter("/srv/adapters/sentiment")   # doctest: +SKIP
        >>> manifest.rank, manifest.nbytes(element_size=2)           # doctest: +SKIP
        (8, 1048576)
    """

    name: str
    path: Path
    weights_file: Path
    settings: LoraSettings
    modules: dict[str, ModuleLora]

    @property
    def rank(self) -> int:
        return max(m.rank for m in self.modules.values())

    def nbytes(self, element_size: int) -> int:
        """Bytes the weights take once converted to a dtype of ``element_size`` bytes."""
        return sum(
            (m.a_shape[0] * m.a_shape[1] + m.b_shape[0] * m.b_shape[1]) * element_size for m in self.modules.values()
        )


def read_safetensors_header(path: str | os.PathLike[str], root: str | os.PathLike[str], *, adapter: str) -> dict[str, TensorInfo]:
    """The tensors a safetensors file declares, checked for consistency; no tensor data is read.

    Raises ``AdapterFormatError`` for a truncated or corrupt header, non-float dtypes, offsets that do
    not match the shapes, or more than ``MAX_TENSORS`` tensors.
    """
    with _open_contained(path, root, adapter) as handle:
        size = os.fstat(handle.fileno()).st_size
        return _parse_header(handle, size, adapter)


def _parse_header(handle, size: int, adapter: str) -> dict[str, TensorInfo]:
    def corrupt(why: str) -> AdapterFormatError:
        return AdapterFormatError(f"adapter {adapter!r}: {WEIGHTS_FILE} is not a valid safetensors file: {why}")

    prefix = handle.read(8)
    if len(prefix) < 8:
        raise corrupt(f"it has only {size} bytes")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES or 8 + length > size:
        raise corrupt(f"its header claims {length} bytes (the file has {size})")
    try:
        header = json.loads(handle.read(length))
    except (ValueError, RecursionError) as exc:
        raise corrupt(f"its header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS:
        raise corrupt(f"it declares {len(header)} tensors; at most {MAX_TENSORS}")
    data_size = size - 8 - length
    tensors: dict[str, TensorInfo] = {}
    for key, entry in header.items():
        if not isinstance(entry, dict) or len(key) > MAX_KEY_CHARS:
            raise corrupt(f"entry {_short(key)} is malformed")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _FLOAT_DTYPES:
            raise corrupt(f"tensor {_short(key)} has dtype {_short(dtype)}; LoRA weights are F32, F16, BF16 or F64")
        if (not isinstance(shape, list) or not all(_is_index(d) for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_index(o) for o in offsets)):
            raise corrupt(f"tensor {_short(key)} has a malformed shape or data_offsets")
        start, end = offsets
        if not start <= end <= data_size or end - start != math.prod(shape) * _FLOAT_DTYPES[dtype]:
            raise corrupt(f"tensor {_short(key)} has data_offsets {offsets} that do not match its shape {shape}")
        tensors[key] = TensorInfo(dtype=dtype, shape=tuple(shape), start=start, end=end)
    return tensors


def inspect_adapter(
    path: str | os.PathLike[str], *, name: str | None = None, root: str | os.PathLike[str] | None = None
) -> AdapterManifest:
    """Check an adapter directory without loading its tensors: config, files, tensor names, shapes and ranks.

    ``root`` (default: the directory's parent) is the adapters directory every file must resolve inside.
    Raises ``AdapterFormatError`` naming the first problem.

    Example:
        >>> inspect_adapter("/srv/adapters/sentiment").rank   # doctest: +SKIP
        8
    """
    path = Path(path)
    name = name or path.name
    root = Path(root) if root is not None else path.resolve().parent
    raw = read_contained_file(path / CONFIG_FILE, root, limit=MAX_CONFIG_BYTES, adapter=name)
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise AdapterFormatError(f"adapter {name!r}: {CONFIG_FILE} is not valid JSON ({type(exc).__name__})") from None
    settings = parse_lora_config(config, name)
    weights_file = contained_file(path / WEIGHTS_FILE, root, adapter=name)
    tensors = read_safetensors_header(weights_file, root, adapter=name)

    parts: dict[str, dict[str, str]] = {}
    for key in tensors:
        match = _KEY_PATTERN.match(key)
        if match is None:
            raise AdapterFormatError(
                f"adapter {name!r}: unexpected tensor {_short(key)} (only lora_A/lora_B weights of linear layers are supported)"
            )
        module = match["module"]
        module = module[len(_PEFT_PREFIX):] if module.startswith(_PEFT_PREFIX) else module
        if match["part"] in parts.setdefault(module, {}):
            raise AdapterFormatError(f"adapter {name!r}: module {module!r} has two lora_{match['part']} tensors")
        parts[module][match["part"]] = key
    if not parts:
        raise AdapterFormatError(f"adapter {name!r}: {WEIGHTS_FILE} holds no LoRA weights")

    modules: dict[str, ModuleLora] = {}
    for module, pair in sorted(parts.items()):
        if set(pair) != {"A", "B"}:
            raise AdapterFormatError(f"adapter {name!r}: module {module!r} has lora_A or lora_B but not both")
        a, b = tensors[pair["A"]].shape, tensors[pair["B"]].shape
        if len(a) != 2 or len(b) != 2 or a[0] != b[1] or min(a + b) < 1:
            raise AdapterFormatError(
                f"adapter {name!r}: module {module!r} has lora_A {a} and lora_B {b}, which are not a linear LoRA pair"
            )
        configured_r = settings.rank(module)
        if configured_r != a[0]:
            raise AdapterFormatError(
                f"adapter {name!r}: module {module!r} has rank {a[0]} in the weights but {configured_r} in {CONFIG_FILE}"
            )
        modules[module] = ModuleLora(a_key=pair["A"], b_key=pair["B"], a_shape=a, b_shape=b,
                                     scaling=settings.scaling(module, a[0]))
    return AdapterManifest(name=name, path=path, weights_file=weights_file, settings=settings, modules=modules)


@dataclass
class AdapterWeights:
    """One LoRA adapter read from disk, ready to be installed into the serving model.

    ``modules`` maps a module path of the base causal-LM (``model.layers.0.self_attn.q_proj``) to
    ``(A, B)`` with ``A`` of shape ``[r, in_features]`` and ``B`` of shape ``[out_features, r]``, the LoRA
    scaling already folded into ``B`` (so the update is ``x @ A.T @ B.T``).
    """

    name: str
    path: Path
    modules: dict[str, tuple["object", "object"]] = field(default_factory=dict)
    rank: int = 0
    nbytes: int = 0


def read_adapter(
    path: str | os.PathLike[str], *, name: str | None = None, dtype: "object | None" = None,
    root: str | os.PathLike[str] | None = None,
) -> AdapterWeights:
    """Read a peft LoRA adapter directory into ``AdapterWeights`` (tensors on the CPU, in ``dtype``).

    Everything ``inspect_adapter`` checks, and then the values: weights holding NaN or infinity (also after
    the scaling and the conversion to ``dtype``) are refused with ``AdapterFormatError``.

    Example:
        >>> weights = read_adapter("/srv/adapters/sentiment")  # doctest: +SKIP
    """
    import torch
    from safetensors.torch import load as load_safetensors

    manifest = inspect_adapter(path, name=name, root=root)
    name = manifest.name
    root = Path(root) if root is not None else Path(path).resolve().parent
    with _open_contained(manifest.weights_file, root, name) as handle:
        data = handle.read()
    try:
        tensors = load_safetensors(data)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise AdapterFormatError(f"adapter {name!r}: cannot read {WEIGHTS_FILE}: {exc}") from exc

    weights = AdapterWeights(name=name, path=Path(path))
    for module, lora in manifest.modules.items():
        a, b = tensors.get(lora.a_key), tensors.get(lora.b_key)
        if a is None or b is None or tuple(a.shape) != lora.a_shape or tuple(b.shape) != lora.b_shape:
            raise AdapterFormatError(f"adapter {name!r}: {WEIGHTS_FILE} changed while it was read; retry")
        target_dtype = dtype or a.dtype
        a_out = a.to(torch.float32).to(target_dtype).contiguous()
        b_out = (b.to(torch.float32) * lora.scaling).to(target_dtype).contiguous()
        for part, tensor in (("lora_A", a_out), ("lora_B", b_out)):
            if not bool(torch.isfinite(tensor).all()):
                raise AdapterFormatError(
                    f"adapter {name!r}: {part} of {module!r} holds NaN or infinite values (in {target_dtype}, after "
                    "the LoRA scaling); the adapter cannot be served"
                )
        weights.modules[module] = (a_out, b_out)
        weights.rank = max(weights.rank, lora.rank)
        weights.nbytes += a_out.numel() * a_out.element_size() + b_out.numel() * b_out.element_size()
    return weights


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 2**64  # also keeps float(value) from overflowing
    return isinstance(value, float) and math.isfinite(value)


def _short(value: object) -> str:
    """``repr(value)``, cut to a readable length for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
