"""Batched multi-LoRA linear layers: every row of a batch applies its own adapter in the same forward pass.

Each linear layer of the base model is wrapped in a ``MultiLoraLinear`` that keeps the LoRA weights of all
loaded adapters stacked in *slots*: ``A[slot]`` is ``[max_rank, in]`` and ``B[slot]`` is ``[out, max_rank]``
(the scaling folded into ``B``; smaller ranks are zero-padded, which adds nothing). Slot 0 stays all zeros
and stands for the base model. A forward pass gathers the rows' slots and runs two batched matmuls, so its
cost does not depend on how many different adapters the batch mixes (the idea of Punica's SGMV / LoRAX),
unlike a loop over the distinct adapters.

Example:
    >>> slots = LoraSlots(model, num_slots=9, max_rank=16)   # doctest: +SKIP
    >>> slots.install(3, adapter_weights)                     # doctest: +SKIP
    >>> with slots.rows([3, 0, 3]):                           # doctest: +SKIP
    ...     logits = model(input_ids)                         # rows 0 and 2 use the adapter, row 1 the base
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from training_runs.serve.adapters import AdapterManifest, AdapterWeights, ModuleLora
from training_runs.serve.errors import AdapterFormatError


class _RowSlots:
    """The per-row slot indices of the forward pass in progress (shared by all wrapped layers of one model)."""

    def __init__(self) -> None:
        self.index: torch.Tensor | None = None


class MultiLoraLinear(nn.Module):
    """A linear layer plus a stack of LoRA slots; ``forward`` applies each row's slot.

    The stacks are allocated on the first adapter that targets this layer, so layers no adapter touches cost
    nothing but a Python call.
    """

    def __init__(self, base: nn.Linear, rows: _RowSlots) -> None:
        super().__init__()
        self.base = base
        self._rows = rows
        self.lora_A: torch.Tensor | None = None
        self.lora_B: torch.Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def allocate(self, num_slots: int, max_rank: int) -> None:
        weight = self.base.weight
        self.lora_A = torch.zeros(num_slots, max_rank, self.in_features, dtype=weight.dtype, device=weight.device)
        self.lora_B = torch.zeros(num_slots, self.out_features, max_rank, dtype=weight.dtype, device=weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        index = self._rows.index
        if self.lora_A is None or index is None:
            return out
        a = self.lora_A.index_select(0, index)  # [batch, r, in]
        b = self.lora_B.index_select(0, index)  # [batch, out, r]
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        update = torch.bmm(torch.bmm(flat, a.transpose(1, 2)), b.transpose(1, 2))
        return out + update.reshape(out.shape)


class LoraSlots:
    """Wraps every ``nn.Linear`` of the decoder layers in ``MultiLoraLinear`` and manages the slots.

    ``num_slots`` includes slot 0 (the base model); ``max_rank`` is the largest LoRA rank accepted. The
    device memory a targeted layer reserves is ``num_slots * max_rank * (in + out)`` values of the model dtype.
    """

    def __init__(self, model: nn.Module, *, num_slots: int, max_rank: int, layers_prefix: str = "model.layers") -> None:
        if num_slots < 2:
            raise ValueError(f"num_slots must be at least 2 (slot 0 is the base model), got {num_slots}")
        if max_rank < 1:
            raise ValueError(f"max_rank must be at least 1, got {max_rank}")
        self.num_slots = num_slots
        self.max_rank = max_rank
        self._row_slots = _RowSlots()
        self.layers: dict[str, MultiLoraLinear] = {}
        for name, module in list(model.named_modules()):
            if not name.startswith(layers_prefix + ".") or isinstance(module, MultiLoraLinear):
                continue
            for child_name, child in list(module.named_children()):
                if isinstance(child, MultiLoraLinear):  # a previous engine's wrapper: start afresh
                    child = child.base
                if isinstance(child, nn.Linear):
                    wrapped = MultiLoraLinear(child, self._row_slots)
                    setattr(module, child_name, wrapped)
                    self.layers[f"{name}.{child_name}"] = wrapped
        if not self.layers:
            raise ValueError(f"no linear layers found under {layers_prefix!r} to apply LoRA adapters to")
        self._slot_modules: dict[int, set[str]] = {}

    def check(self, adapter: AdapterWeights | AdapterManifest) -> None:
        """Raise ``AdapterFormatError`` if ``adapter`` (its weights, or just its manifest) cannot be installed:
        a rank above ``max_rank``, a module that is not a wrapped linear layer, or shapes of another model."""
        if adapter.rank > self.max_rank:
            raise AdapterFormatError(
                f"adapter {adapter.name!r} has LoRA rank {adapter.rank}, above the server's max LoRA rank "
                f"{self.max_rank} (start the server with a larger --max-lora-rank)"
            )
        for module, pair in adapter.modules.items():
            a_shape, b_shape = (pair.a_shape, pair.b_shape) if isinstance(pair, ModuleLora) else (
                tuple(pair[0].shape), tuple(pair[1].shape))
            layer = self.layers.get(module)
            if layer is None:
                raise AdapterFormatError(
                    f"adapter {adapter.name!r} targets {module!r}, which is not a linear layer of the base model "
                    "(was it trained on another base model?)"
                )
            if a_shape[1] != layer.in_features or b_shape[0] != layer.out_features:
                raise AdapterFormatError(
                    f"adapter {adapter.name!r}: {module!r} expects [{layer.out_features} x {layer.in_features}] but "
                    f"the adapter has lora_A {a_shape} and lora_B {b_shape} (another base model?)"
                )

    def install(self, slot: int, weights: AdapterWeights) -> None:
        """Copy ``weights`` into ``slot`` (clearing what a previous adapter left there)."""
        if not 1 <= slot < self.num_slots:
            raise ValueError(f"slot must be in 1..{self.num_slots - 1}, got {slot}")
        self.check(weights)
        self.clear(slot)
        for module, (a, b) in weights.modules.items():
            layer = self.layers[module]
            if layer.lora_A is None:
                layer.allocate(self.num_slots, self.max_rank)
            r = a.shape[0]
            layer.lora_A[slot, :r].copy_(a.to(layer.lora_A.dtype), non_blocking=True)
            layer.lora_B[slot, :, :r].copy_(b.to(layer.lora_B.dtype), non_blocking=True)
        self._slot_modules[slot] = set(weights.modules)

    def clear(self, slot: int) -> None:
        """Zero ``slot`` in every layer its adapter touched."""
        for module in self._slot_modules.pop(slot, ()):
            layer = self.layers[module]
            layer.lora_A[slot].zero_()
            layer.lora_B[slot].zero_()

    @contextlib.contextmanager
    def rows(self, slots: Sequence[int] | torch.Tensor, device: torch.device | None = None) -> Iterator[None]:
        """Within the block, row ``i`` of every forward pass applies the adapter in ``slots[i]`` (0: none)."""
        if not isinstance(slots, torch.Tensor):
            slots = torch.tensor(list(slots), dtype=torch.long)
        if device is not None:
            slots = slots.to(device, non_blocking=True)
        self._row_slots.index = slots
        try:
            yield
        finally:
            self._row_slots.index = None

    def reserved_bytes(self) -> int:
        """Device memory held by the allocated slot stacks."""
        return sum(
            layer.lora_A.numel() * layer.lora_A.element_size() + layer.lora_B.numel() * layer.lora_B.element_size()
            for layer in self.layers.values()
            if layer.lora_A is not None
        )
