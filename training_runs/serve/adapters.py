"""The adapters directory: safe name resolution, discovery, and reading a peft LoRA adapter from disk.

Layout (what the QLoRA runner writes): ``<adapters_root>/<adapter_name>/`` holding peft's
``adapter_config.json`` and ``adapter_model.safetensors`` (and the runner's ``run.json``). An adapter is
addressed by its directory name, or by the ``run_id`` recorded in its ``run.json``.

Names are checked before any file-system access: one path component of letters, digits, ``.``, ``_``
and ``-`` (no ``/``, no ``..``), and the resolved directory (symlinks followed) must lie inside the
root. Pickled ``adapter_model.bin`` files are refused: loading them could run arbitrary code.

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
from dataclasses import dataclass, field
from pathlib import Path

from training_runs.serve.errors import AdapterFormatError, AdapterNotFoundError, InvalidAdapterNameError

#: What an adapter name may look like: one path component, no leading dot.
ADAPTER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
RUN_FILE = "run.json"
#: The prefix peft puts in front of module names in a saved adapter.
_PEFT_PREFIX = "base_model.model."
_KEY_PATTERN = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


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
        raise InvalidAdapterNameError(
            f"invalid model name {name!r}: an adapter name is one directory name of letters, digits, '.', '_' "
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
        """Adapter names on disk (directories with an adapter config and safetensors weights), sorted."""
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if ADAPTER_NAME_PATTERN.fullmatch(child.name) and ".." not in child.name and self._is_adapter(child):
                found.append(child.name)
        return found

    def run_ids(self) -> dict[str, str]:
        """``{run_id: adapter_name}`` for adapters whose ``run.json`` records a run id."""
        aliases: dict[str, str] = {}
        for name in self.names():
            run_file = self.root / name / RUN_FILE
            try:
                run_id = json.loads(run_file.read_text()).get("run_id") if run_file.is_file() else None
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(run_id, (str, int)) and str(run_id) != name:
                aliases[str(run_id)] = name
        return aliases

    def resolve(self, name: str) -> Path:
        """The directory of adapter ``name`` (or of the adapter whose run id is ``name``), checked to be safe.

        Raises ``InvalidAdapterNameError`` for unsafe names and ``AdapterNotFoundError`` when nothing of that
        name exists inside the root.
        """
        validate_adapter_name(name)
        root = self.root.resolve()
        candidate = (root / name).resolve()
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
        raise AdapterNotFoundError(
            f"the model {name!r} does not exist: it is neither the base model nor an adapter in {root} "
            "(GET /v1/models lists what is available)",
            param="model",
        )

    @staticmethod
    def _is_adapter(path: Path) -> bool:
        return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


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


def read_adapter(path: str | os.PathLike[str], *, name: str | None = None, dtype: "object | None" = None) -> AdapterWeights:
    """Read a peft LoRA adapter directory into ``AdapterWeights`` (tensors on the CPU, in ``dtype``).

    Supported: plain LoRA on linear layers (any target modules, per-module ranks and alphas, rsLoRA).
    Refused with ``AdapterFormatError`` naming the feature: other peft types, DoRA, LoRA on embeddings,
    ``modules_to_save``, trained biases, and files whose tensors do not pair up.

    Example:
        >>> weights = read_adapter("/srv/adapters/sentiment")  # doctest: +SKIP
    """
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    name = name or path.name
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise AdapterFormatError(f"adapter {name!r}: cannot read {CONFIG_FILE}: {exc}") from exc
    if not isinstance(config, dict):
        raise AdapterFormatError(f"adapter {name!r}: {CONFIG_FILE} is not a JSON object")
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise AdapterFormatError(f"adapter {name!r} is a {peft_type} adapter; this server applies LoRA adapters only")
    for flag, feature in (("use_dora", "DoRA"), ("modules_to_save", "modules_to_save")):
        if config.get(flag):
            raise AdapterFormatError(f"adapter {name!r} uses {feature}, which this server does not support")
    if config.get("bias", "none") not in ("none", None):
        raise AdapterFormatError(f"adapter {name!r} trains biases (bias={config['bias']!r}); only bias='none' is supported")
    default_r = int(config.get("r", 8))
    default_alpha = float(config.get("lora_alpha", default_r))
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}
    rslora = bool(config.get("use_rslora", False))

    try:
        tensors = load_file(str(path / WEIGHTS_FILE))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise AdapterFormatError(f"adapter {name!r}: cannot read {WEIGHTS_FILE}: {exc}") from exc

    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = _KEY_PATTERN.match(key)
        if match is None:
            raise AdapterFormatError(
                f"adapter {name!r}: unexpected tensor {key!r} (only lora_A/lora_B weights of linear layers are supported)"
            )
        module = match["module"]
        module = module[len(_PEFT_PREFIX):] if module.startswith(_PEFT_PREFIX) else module
        parts.setdefault(module, {})[match["part"]] = tensor
    if not parts:
        raise AdapterFormatError(f"adapter {name!r}: {WEIGHTS_FILE} holds no LoRA weights")

    weights = AdapterWeights(name=name, path=path)
    for module, pair in sorted(parts.items()):
        if set(pair) != {"A", "B"}:
            raise AdapterFormatError(f"adapter {name!r}: module {module!r} has lora_A or lora_B but not both")
        a, b = pair["A"], pair["B"]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise AdapterFormatError(
                f"adapter {name!r}: module {module!r} has lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)}, "
                "which are not a linear LoRA pair"
            )
        r = int(a.shape[0])
        alpha = float(_pattern_value(alpha_pattern, module, default_alpha))
        configured_r = int(_pattern_value(rank_pattern, module, default_r))
        if configured_r != r:
            raise AdapterFormatError(
                f"adapter {name!r}: module {module!r} has rank {r} in the weights but {configured_r} in {CONFIG_FILE}"
            )
        scaling = alpha / math.sqrt(r) if rslora else alpha / r
        target_dtype = dtype or a.dtype
        a_out = a.to(torch.float32).to(target_dtype).contiguous()
        b_out = (b.to(torch.float32) * scaling).to(target_dtype).contiguous()
        weights.modules[module] = (a_out, b_out)
        weights.rank = max(weights.rank, r)
        weights.nbytes += a_out.numel() * a_out.element_size() + b_out.numel() * b_out.element_size()
    return weights


def _pattern_value(pattern: dict, module: str, default: float) -> float:
    """peft's rule for ``rank_pattern``/``alpha_pattern``: a key matches the end of the module path."""
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default
