"""Training throughput and peak memory: this runner's loop vs a plain transformers Trainer + peft loop.

Both train the same LoRA (r=8 on q_proj/v_proj, lr 2e-4 cosine, batch 4 x 4 accumulation, gradient
checkpointing) on the same base model and the same synthetic examples (prompts of 32-448 tokens,
completions of 8-64, capped at ``--seq-len``), one after the other in one process. The base model has
random weights of the Mistral-7B architecture (``MistralConfig`` defaults: hidden 4096, 32 layers,
intermediate 14336, 32 heads, 8 KV heads, vocab 32000), built on the ``meta`` device and quantized layer by
layer straight into 4-bit NF4 (bitsandbytes) on the GPU, so no 14 GB bf16 copy is ever made and start-up
takes seconds. The first ``--warmup-steps`` steps of each loop are not timed.

Reported per loop: training tokens/s (real, non-padding tokens of the timed steps / their wall time), s/step
and peak GPU memory (``torch.cuda.max_memory_allocated`` from just before that loop, weights included);
then the ratio ours / reference. What makes the runner faster: length-grouped micro-batches (the Trainer
pads random batches to their longest row), the LM head evaluated only at completion positions (not on the
whole vocabulary at every prompt position), and fused AdamW.

GPU (about 2-3 minutes on an H100; needs bitsandbytes)::

    python benchmarks/qlora_bench.py

CPU check with a tiny Mistral config, no quantization::

    python benchmarks/qlora_bench.py --tiny
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_runs.qlora.config import QLoRAConfig  # noqa: E402
from training_runs.qlora.data import IGNORE_INDEX, TokenizedExample  # noqa: E402
from training_runs.qlora.modeling import prepare_for_training  # noqa: E402
from training_runs.qlora.training import StepInfo, train_adapter  # noqa: E402

PAD_ID = 0


@dataclass
class LoopFigures:
    """Measured figures of one training loop."""

    name: str
    timed_steps: int
    timed_tokens: int
    timed_s: float
    peak_memory_gib: float | None

    @property
    def tokens_per_s(self) -> float:
        return self.timed_tokens / self.timed_s

    @property
    def s_per_step(self) -> float:
        return self.timed_s / self.timed_steps


def mistral_config(tiny: bool, layers: int | None) -> Any:
    from transformers import MistralConfig

    if tiny:
        config = MistralConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    else:
        config = MistralConfig()  # Mistral-7B: 4096 hidden, 32 layers, 14336 intermediate, 32/8 heads
    if layers is not None:
        config.num_hidden_layers = layers
    config.pad_token_id = PAD_ID
    config.use_cache = False
    return config


def synthetic_examples(n: int, seq_len: int, vocab: int, seed: int) -> list[TokenizedExample]:
    """Random-token examples with varied prompt (32-448) and completion (8-64) lengths, at most ``seq_len``."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        completion = rng.randint(8, 64)
        prompt = min(rng.randint(32, 448), seq_len - completion)
        ids = [rng.randrange(3, vocab) for _ in range(prompt + completion)]
        labels = [IGNORE_INDEX] * prompt + ids[prompt:]
        examples.append(TokenizedExample(tuple(ids), tuple(labels), False))
    return examples


def _materialize_rest(model: torch.nn.Module, config: Any, device: torch.device, dtype: torch.dtype) -> None:
    """Give every parameter and buffer still on ``meta`` real storage on ``device`` (random or ones)."""
    generator = torch.Generator(device=device).manual_seed(1)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if any(b.is_meta for b in child.buffers(recurse=False)) and type(child).__name__.endswith("RotaryEmbedding"):
                setattr(parent, name, type(child)(config).to(device))  # rebuilt off the meta device
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            if not param.is_meta:
                continue
            data = torch.empty(param.shape, dtype=dtype, device=device)
            if "norm" in type(module).__name__.lower():
                data.fill_(1.0)
            else:
                data.normal_(0.0, config.initializer_range, generator=generator)
            module._parameters[name] = torch.nn.Parameter(data, requires_grad=False)
    leftover = [n for n, b in model.named_buffers() if b.is_meta]
    if leftover:
        raise RuntimeError(f"buffers left on the meta device: {leftover[:5]}")


def build_random_4bit(config: Any, device: torch.device) -> torch.nn.Module:
    """A random-weight model with every decoder Linear quantized to NF4 as it is created (bitsandbytes)."""
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    head = model.get_output_embeddings()
    generator = torch.Generator(device=device).manual_seed(0)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or child is head:
                continue
            weight = torch.empty(child.out_features, child.in_features, dtype=torch.bfloat16, device=device)
            weight.normal_(0.0, config.initializer_range, generator=generator)
            layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                      compute_dtype=torch.bfloat16, compress_statistics=True, quant_type="nf4",
                                      device="meta")
            layer.weight = bnb.nn.Params4bit(weight, requires_grad=False, compress_statistics=True,
                                             quant_type="nf4").to(device)  # .to() quantizes
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(torch.zeros(child.out_features, dtype=torch.bfloat16, device=device),
                                                requires_grad=False)
            setattr(parent, name, layer)
            del weight
    _materialize_rest(model, config, device, torch.bfloat16)
    model.is_loaded_in_4bit = True  # what transformers' bnb quantizer sets; peft and the Trainer read it
    return model


def build_random_plain(config: Any, device: torch.device) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    return AutoModelForCausalLM.from_config(config, dtype=dtype).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def run_ours(model: Any, examples: list[TokenizedExample], config: QLoRAConfig, warmup: int,
             device: torch.device) -> LoopFigures:
    marks: list[tuple[float, int]] = []

    def on_step(info: StepInfo) -> None:
        _sync(device)
        marks.append((time.perf_counter(), info.train_tokens))

    _reset_peak(device)
    train_adapter(model, examples, config, pad_id=PAD_ID, output_dir=None, run_id="bench", fingerprint="bench",
                  on_step=on_step)
    (t0, k0), (t1, k1) = marks[warmup - 1], marks[-1]
    return LoopFigures("this runner", len(marks) - warmup, k1 - k0, t1 - t0, _peak(device))


def run_trainer(model: Any, examples: list[TokenizedExample], config: QLoRAConfig, warmup: int,
                device: torch.device, workdir: Path) -> LoopFigures:
    """The reference: transformers' Trainer on the peft model, padding random batches to their longest row."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    rows = [{"input_ids": list(ex.input_ids), "labels": list(ex.labels)} for ex in examples]

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:  # = DataCollatorForSeq2Seq
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    tokens = [0]

    def count_tokens(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        if torch.is_grad_enabled() and kwargs.get("attention_mask") is not None:
            tokens[0] += int(kwargs["attention_mask"].sum())

    marks: list[tuple[float, int]] = []

    class Marks(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _sync(device)
            marks.append((time.perf_counter(), tokens[0]))

    on_gpu = device.type == "cuda"
    arguments = TrainingArguments(
        output_dir=str(workdir), per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_steps=config.max_steps,
        learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, optim="adamw_torch",
        bf16=on_gpu, use_cpu=not on_gpu, gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False}, logging_steps=10_000, save_strategy="no",
        report_to="none", remove_unused_columns=False, dataloader_num_workers=0, seed=config.seed,
        disable_tqdm=True,
    )
    hook = model.register_forward_pre_hook(count_tokens, with_kwargs=True)
    try:
        _reset_peak(device)
        Trainer(model=model, args=arguments, train_dataset=rows, data_collator=collate, callbacks=[Marks()]).train()
    finally:
        hook.remove()
    (t0, k0), (t1, k1) = marks[warmup - 1], marks[-1]
    return LoopFigures("Trainer + peft", len(marks) - warmup, k1 - k0, t1 - t0, _peak(device))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny Mistral config (CPU check)")
    parser.add_argument("--layers", type=int, default=None, help="override the number of decoder layers")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per loop (default 8; --tiny 4)")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=None, help="default 512 (--tiny: 256)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--no-quantize", action="store_true", help="bf16 base weights instead of 4-bit on GPU")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    device = torch.device("cuda", 0) if torch.cuda.is_available() and not args.tiny else torch.device("cpu")
    quantize = device.type == "cuda" and not args.no_quantize
    steps = args.steps or (4 if args.tiny else 8)
    args.seq_len = args.seq_len or (256 if args.tiny else 512)
    config = QLoRAConfig(
        load_in_4bit=quantize, max_steps=args.warmup_steps + steps, per_device_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, gradient_checkpointing=not args.no_gradient_checkpointing,
        max_seq_length=args.seq_len, lora_dropout=0.05, device=str(device),
    )
    model_config = mistral_config(args.tiny, args.layers)
    examples = synthetic_examples(config.effective_batch_size * config.max_steps * 2, args.seq_len,
                                  model_config.vocab_size, seed=0)
    started = time.perf_counter()
    base = build_random_4bit(model_config, device) if quantize else build_random_plain(model_config, device)
    _sync(device)
    build_s = time.perf_counter() - started
    print(f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}; "
          f"model {model_config.num_hidden_layers} layers x {model_config.hidden_size} "
          f"({'4-bit NF4' if quantize else str(next(base.parameters()).dtype)}), built in {build_s:.1f}s; "
          f"seq len {args.seq_len}, r={config.lora_r}, batch {config.per_device_batch_size}x"
          f"{config.gradient_accumulation_steps}, gradient checkpointing {config.gradient_checkpointing}, "
          f"{args.warmup_steps} warm-up + {steps} timed steps", flush=True)

    peft_model = prepare_for_training(base, config, quantized=quantize)
    ours = run_ours(peft_model, examples, config, args.warmup_steps, device)
    print(f"this runner:    {ours.tokens_per_s:,.0f} tokens/s", flush=True)
    base = peft_model.unload()  # the same base weights, LoRA layers removed
    del peft_model
    import tempfile

    reference_model = prepare_for_training(base, config, quantized=quantize)
    with tempfile.TemporaryDirectory() as workdir:
        reference = run_trainer(reference_model, examples, config, args.warmup_steps, device, Path(workdir))
    print(f"Trainer + peft: {reference.tokens_per_s:,.0f} tokens/s", flush=True)

    def fmt(value: float | None, spec: str) -> str:
        return "n/a (CPU)" if value is None else format(value, spec)

    ratio = ours.tokens_per_s / reference.tokens_per_s
    print()
    print(f"{'':24}{'this runner':>16}{'Trainer + peft':>16}{'ratio':>10}")
    print(f"{'training tokens/s':24}{ours.tokens_per_s:>16,.0f}{reference.tokens_per_s:>16,.0f}{ratio:>9.2f}x")
    print(f"{'s / step':24}{ours.s_per_step:>16.3f}{reference.s_per_step:>16.3f}"
          f"{reference.s_per_step / ours.s_per_step:>9.2f}x")
    memory_ratio = (f"{ours.peak_memory_gib / reference.peak_memory_gib:>9.2f}x"
                    if ours.peak_memory_gib and reference.peak_memory_gib else f"{'':>10}")
    print(f"{'peak GPU memory GiB':24}{fmt(ours.peak_memory_gib, '>16.2f'):>16}"
          f"{fmt(reference.peak_memory_gib, '>16.2f'):>16}{memory_ratio}")
    print(f"{'timed steps / tokens':24}{f'{ours.timed_steps} / {ours.timed_tokens}':>16}"
          f"{f'{reference.timed_steps} / {reference.timed_tokens}':>16}")
    if args.json:
        figures = {"device": str(device), "quantized": quantize, "layers": model_config.num_hidden_layers,
                   "hidden_size": model_config.hidden_size, "seq_len": args.seq_len, "build_s": build_s,
                   "ours": {**asdict(ours), "tokens_per_s": ours.tokens_per_s},
                   "reference": {**asdict(reference), "tokens_per_s": reference.tokens_per_s},
                   "tokens_per_s_ratio": ratio}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if math.isfinite(ratio) else 1


if __name__ == "__main__":
    raise SystemExit(main())
