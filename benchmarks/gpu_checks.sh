#!/usr/bin/env bash
# The GPU checks, in one go: QLoRA training throughput/memory and multi-LoRA serving throughput,
# plus a 4-bit smoke fine-tune of the runner on the tiny model. Logs go to ${OUT:-gpu-out}/.
# Needs a CUDA machine with torch, transformers and peft; bitsandbytes may come as wheels in .whl/.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, peft, bitsandbytes as b; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'bitsandbytes', b.__version__)" | tee -a "$OUT/gpu.txt"

echo "== serve_bench"; timeout "${SERVE_TIMEOUT:-200}" python3 benchmarks/serve_bench.py 2>&1 | tee "$OUT/serve_bench.txt"
echo "== 4-bit smoke fine-tune (tiny model)"
python3 -m training_runs.tiny_model /tmp/tiny >/dev/null 2>&1 && \
  timeout 120 python3 -m advisor.cli finetune --base-model /tmp/tiny --data advisor/examples/sentiment_reviews.csv \
    --prompt-col review --completion-col label --max-steps 20 --eval-size 50 --no-record 2>&1 | tail -n 25 | tee "$OUT/smoke_4bit.txt"
echo "== qlora_bench"; timeout "${QLORA_TIMEOUT:-300}" python3 benchmarks/qlora_bench.py --json "$OUT/qlora_bench.json" 2>&1 | tee "$OUT/qlora_bench.txt"
echo "== done"
