#!/usr/bin/env bash
# The CUDA path, checked in under 8 minutes on a machine with one or more NVIDIA GPUs:
#   1. the GPU as torch sees it; 2. the tests that run on CUDA when it is there;
#   3. DeepFM and FiGNN at batch 16384 on one GPU (samples/s, valid AUC, bf16 auto);
#   4. DistributedDataParallel over all GPUs (nccl), or 2 processes sharing the one GPU (gloo);
#   5. ctrkit tune --jobs 2 --device cuda: one trial per GPU (each trial's run says its device).
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (from the repository root; makes .venv if missing)
set -euo pipefail
OUT=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT"
# an interpreter with a CUDA torch: $PY, else .venv, else python3 with the checkout on its path (a machine
# without network), else a new .venv from the registry (its CUDA torch, not constraints.txt's CPU pin)
PY=${PY:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  if python3 -c "import torch, pyarrow, yaml" 2>/dev/null; then
    PY=python3; export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
  else
    python3 -m venv .venv && .venv/bin/pip install --quiet -e '.[dev]'
  fi
fi
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "1. device"
nvidia-smi -L | tee -a "$OUT/summary.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'devices', torch.cuda.device_count(), 'bf16', torch.cuda.is_bf16_supported())" | tee -a "$OUT/summary.txt"

log "2. tests that use CUDA when present"
timeout 180 $PY -m pytest -q -x tests/test_api_and_trainer.py tests/test_config.py -k "cuda or device" 2>&1 | tail -5 | tee -a "$OUT/summary.txt"

log "3. one GPU, batch 16384"
$PY -m ctrkit prepare --dataset synthetic --rows 1000000 --out "$OUT/syn" > /dev/null
for model in deepfm fignn; do
  timeout 120 $PY -m ctrkit train --data "$OUT/syn" --model $model --device cuda --batch-size 16384 --epochs 2 \
    --set train.progress=false --out "$OUT/$model" --overwrite 2>&1 | tail -10 | tee -a "$OUT/summary.txt"
done

log "4. DistributedDataParallel"
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -gt 1 ]; then NPROC=$GPUS; BACKEND=nccl; else NPROC=2; BACKEND=gloo; fi
timeout 180 $PY -m torch.distributed.run --standalone --nproc-per-node $NPROC -m ctrkit train --data "$OUT/syn" \
  --model deepfm --device cuda --batch-size 16384 --epochs 2 --set train.progress=false \
  --set train.distributed.backend=$BACKEND --out "$OUT/ddp" --overwrite 2>&1 | tail -10 | tee -a "$OUT/summary.txt"

log "5. ctrkit tune, one trial per GPU"
timeout 240 $PY -m ctrkit tune --config configs/synthetic_deepfm.yaml --device cuda --epochs 1 --trials 4 --jobs 2 \
  --out "$OUT/tune" 2>&1 | tail -6 | tee -a "$OUT/summary.txt"
cut -d, -f2,6 "$OUT/tune/trials.csv" | sort | uniq -c | tee -a "$OUT/summary.txt"   # state, device: cuda:0 and cuda:1 on 2 GPUs
log "done: $OUT/summary.txt"
