#!/usr/bin/env bash
# Every GPU measurement of the project in one run of at most ~8 minutes on a lent GPU machine:
# the CUDA-only tests, eq. (1) forward + backward, the paper encoders end to end vs the compute ceiling,
# the paper-encoder proxy trial at its default budget, and several trials per GPU. Each step has its own
# time limit and a failing step does not stop the others. Results: benchmarks/results/*gpu*.{json,md} and
# loss_cuda.*; with $OUT set (the device tool), they and the log are also packed into $OUT/results.tar.
#
#     bash benchmarks/gpu_session.sh
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1
export GDT_SEARCH_CACHE="${GDT_SEARCH_CACHE:-/tmp/gdt-search-cache}"
python=${PYTHON:-python3}
log=${OUT:-/tmp}/gpu_session.log
started=$(date +%s)

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s, at $(($(date +%s) - started))s)"
  timeout "$limit" "$@"
  echo "=== $name: exit $? after $(($(date +%s) - started))s"
}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $python -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
  step "CUDA tests" 45 $python -m pytest -q -p no:cacheprovider tests/core/gdt/test_loss.py tests/core/data/test_augment.py tests/core/data/test_batches.py
  step "loss" 50 $python benchmarks/bench_loss.py --device cuda --sizes 64 1024 4096 --compiled-sizes 4096
  step "trial end to end vs ceiling" 120 $python benchmarks/bench_trial_gpu.py --clip-budgets 32 128
  step "augmentation profile" 60 $python benchmarks/profile_augment_gpu.py --clips 32 128
  step "paper trial" 110 $python benchmarks/bench_paper_trial_gpu.py
  step "packing" 200 $python benchmarks/bench_packing_gpu.py
  echo "total $(($(date +%s) - started))s"
} 2>&1 | tee "$log"

if [ -n "${OUT:-}" ]; then
  tar -cf "$OUT/results.tar" benchmarks/results/loss_cuda.* benchmarks/results/*_gpu.* 2>/dev/null
fi
