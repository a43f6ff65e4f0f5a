"""The decoder forward pass with a per-sequence KV cache, for continuous batching.

``ModelRunner`` drives the layers of a Llama-family causal LM (Llama, Mistral, Qwen2, Qwen3: the modules
``embed_tokens``, ``layers[i].self_attn.{q,k,v,o}_proj``, ``mlp``, RMS norms, ``rotary_emb``, ``lm_head``)
itself instead of calling ``model.forward``: that keeps the KV cache in one preallocated buffer per layer,
``[max_batch, kv_heads, max_seq_len, head_dim]``, where *row* ``i`` belongs to one running sequence and each
row has its own length. Sequences can then join and leave the batch between decode steps without
re-padding anyone's cache:

- ``prefill(rows, prompts)`` runs new prompts (right-padded, causal + padding mask) and writes their keys and
  values into free rows; it returns the logits of each prompt's last token;
- ``decode(tokens, lengths)`` appends one token to rows ``0..n-1`` (each at its own position) and returns
  the next-token logits;
- ``move_row(src, dst)`` keeps the running rows contiguous when a sequence finishes.

A decode step attends over ``[:max(lengths) + 1]`` of every row, so a shorter row reads positions past
its own length. They are masked, but a mask gives them weight 0 and ``0 x NaN`` is NaN: whatever a
previous occupant of the row left there (the keys of an adapter that overflowed) would poison the next
sequence. So a row's positions past its length are kept at zero: ``prefill`` clears what a previous
sequence left in the rows it reuses (and stores zeros for the padding), ``move_row`` copies the whole
used span. ``filled[row]`` is how far a row may hold anything but zeros.

It uses only the model's sub-modules, so it works the same across transformers versions.

Example:
    >>> runner = ModelRunner(model, max_batch=8, max_seq_len=256)     # doctest: +SKIP
    >>> logits = runner.prefill([0, 1], [[1, 5, 9], [1, 7]])           # doctest: +SKIP
    >>> logits = runner.decode(torch.tensor([4, 2]), [3, 2])            # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from training_runs.serve.errors import UnsupportedModelError

#: ``config.model_type`` values whose decoder this runner implements.
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class ModelRunner:
    """Prefill and decode steps over a preallocated, row-per-sequence KV cache (see the module docstring)."""

    def __init__(self, model: nn.Module, *, max_batch: int, max_seq_len: int) -> None:
        config = model.config
        model_type = getattr(config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedModelError(
                f"the built-in serving engine implements {', '.join(SUPPORTED_MODEL_TYPES)} models; this base model "
                f"is {model_type!r} (use --engine vllm for other architectures)"
            )
        self.model = model
        self.config = config
        self.decoder = model.model
        self.layers = list(self.decoder.layers)
        first = self.layers[0].self_attn
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = getattr(first, "head_dim", None) or config.hidden_size // self.num_heads
        self.scale = float(getattr(first, "scaling", self.head_dim**-0.5))
        window = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
        limit = int(getattr(config, "max_position_embeddings", max_seq_len) or max_seq_len)
        if window:
            limit = min(limit, int(window))  # within the window, sliding-window attention is plain causal attention
        if max_seq_len > limit:
            raise ValueError(
                f"max_seq_len {max_seq_len} exceeds what the base model attends to ({limit} positions); lower the "
                "prompt and max_tokens limits"
            )
        self.max_batch = max_batch
        self.max_seq_len = max_seq_len
        weight = next(model.parameters())
        self.device = weight.device
        self.dtype = weight.dtype
        shape = (max_batch, self.num_kv_heads, max_seq_len, self.head_dim)
        self.keys = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        self.values = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        self.filled = [0] * max_batch  # positions [filled[row]:] of a row hold zeros

    def kv_cache_bytes(self) -> int:
        """Device memory held by the KV cache."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    @torch.inference_mode()
    def prefill(self, rows: Sequence[int], prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Run ``prompts`` (token ids) into KV rows ``rows``; return ``[len(prompts), vocab]`` last-token logits."""
        lengths = [len(p) for p in prompts]
        if min(lengths) < 1:
            raise ValueError("every prompt needs at least one token")
        width = max(lengths)
        if width > self.max_seq_len:
            raise ValueError(f"a prompt of {width} tokens exceeds the KV cache length {self.max_seq_len}")
        pad = 0
        ids = torch.tensor([list(p) + [pad] * (width - len(p)) for p in prompts], dtype=torch.long)
        ids = ids.to(self.device)
        length_t = torch.tensor(lengths, device=self.device)
        positions = torch.arange(width, device=self.device).unsqueeze(0).expand(len(prompts), width)
        causal = torch.ones(width, width, dtype=torch.bool, device=self.device).tril()
        valid_keys = positions < length_t.unsqueeze(1)  # [n, width]
        mask = (causal.unsqueeze(0) & valid_keys.unsqueeze(1)).unsqueeze(1)  # [n, 1, q, k]
        row_t = torch.tensor(list(rows), dtype=torch.long, device=self.device)
        stale = max(self.filled[row] for row in rows)  # what earlier sequences may have left in these rows
        keep = valid_keys.view(len(prompts), 1, width, 1)

        def write(layer_index: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            k, v = torch.where(keep, k, 0), torch.where(keep, v, 0)  # padding stores zeros, not pad-token keys
            for cache, new in ((self.keys[layer_index], k), (self.values[layer_index], v)):
                if stale > width:
                    cache[row_t, :, width:stale] = 0
                cache[row_t, :, :width] = new
            return k, v

        hidden = self._forward(ids, positions, mask, write)
        for row, length in zip(rows, lengths):
            self.filled[row] = length
        last = hidden[torch.arange(len(prompts), device=self.device), length_t - 1]
        return self.model.lm_head(last).float()

    @torch.inference_mode()
    def decode(self, tokens: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Append ``tokens[i]`` at position ``lengths[i]`` of row ``i`` (rows ``0..n-1``); return ``[n, vocab]`` logits."""
        n = len(lengths)
        length_t = torch.tensor(list(lengths), dtype=torch.long).to(self.device, non_blocking=True)
        span = max(lengths) + 1
        if span > self.max_seq_len:
            raise ValueError(f"a sequence would exceed the KV cache length {self.max_seq_len}")
        ids = tokens.to(self.device).view(n, 1)
        positions = length_t.view(n, 1)
        key_positions = torch.arange(span, device=self.device).unsqueeze(0)
        mask = (key_positions <= length_t.unsqueeze(1)).view(n, 1, 1, span)
        row_t = torch.arange(n, device=self.device)

        def write(layer_index: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            keys, values = self.keys[layer_index], self.values[layer_index]
            keys[row_t, :, length_t] = k[:, :, 0]
            values[row_t, :, length_t] = v[:, :, 0]
            return keys[:n, :, :span], values[:n, :, :span]

        hidden = self._forward(ids, positions, mask, write)
        for row, length in enumerate(lengths):
            self.filled[row] = max(self.filled[row], length + 1)
        return self.model.lm_head(hidden[:, -1]).float()

    def move_row(self, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` cached positions of row ``src`` to row ``dst`` (and clear what ``dst`` held
        beyond them)."""
        if src == dst:
            return
        span = max(length, self.filled[src], self.filled[dst])
        if span <= 0:
            return
        for cache in (*self.keys, *self.values):
            cache[dst, :, :span].copy_(cache[src, :, :span])
        self.filled[dst] = max(length, self.filled[src])

    def _forward(self, ids, positions, mask, write) -> torch.Tensor:
        hidden = self.decoder.embed_tokens(ids)
        cos, sin = self.decoder.rotary_emb(hidden, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        batch, width = ids.shape
        for index, layer in enumerate(self.layers):
            attn = layer.self_attn
            residual = hidden
            x = layer.input_layernorm(hidden)
            q = attn.q_proj(x).view(batch, width, -1, self.head_dim)
            k = attn.k_proj(x).view(batch, width, -1, self.head_dim)
            v = attn.v_proj(x).view(batch, width, -1, self.head_dim)
            if hasattr(attn, "q_norm"):  # Qwen3 normalizes queries and keys per head
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = write(index, k, v)
            out = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=mask, scale=self.scale, enable_gqa=self.num_kv_heads != self.num_heads
            )
            out = out.transpose(1, 2).reshape(batch, width, -1)
            hidden = residual + attn.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        return self.decoder.norm(hidden)
