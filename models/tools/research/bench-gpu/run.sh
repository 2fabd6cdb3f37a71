#!/usr/bin/env bash
# The GPU run of the kernel benchmarks, prepared for the device machine (an NVIDIA GPU, no
# Node.js, no network). Here: `npm run build`, then pack Node.js and the needed node_modules
# with the workplace's gpu-machine pack.sh into .gpu/, and carry .gpu, models/engine/dist, models/tools/*/dist and extension/dist (all
# git-ignored). There, from the repository root:
#   bash models/tools/research/bench-gpu/run.sh
# Everything goes to $OUT/gpu-bench.log (and the terminal); with SWEEP=1 the swept tilings go to
# $OUT/tilings.json. Each step has its own time limit, and a failed step does not stop the rest.
# A dry run anywhere with a small network: DRY_RUN=1 bash models/tools/research/bench-gpu/run.sh
set -uo pipefail
out="${OUT:-/tmp/abus-bench-gpu}"
mkdir -p "$out"
log="$out/gpu-bench.log"
input=128x64x128 width=16 full=--full grad_input=64x32x64 train_grid=64,32,64 reps=5
if [ -n "${DRY_RUN:-}" ]; then
  input=16x16x16 width=2 full= grad_input=16x16x16 train_grid=16,16,16 reps=1
  node_bin=node
else
  bash .gpu/setup.sh > /dev/null
  # shellcheck disable=SC1091
  source .gpu/env.sh
  node_bin="${DEVICE_NODE:-node}"
fi
step() {
  local limit=$1
  shift
  echo "=== $(date -u +%H:%M:%S) $* (limit ${limit}s)"
  timeout "$limit" "$@" 2>&1
  echo "=== exit $?"
}
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  # 3x3x3 layers: stock vs ours, every candidate tiling, 2x2x2 layers, whole forward pass (default and swept tilings).
  # SWEEP=1 also times every candidate tiling per layer and writes the fastest to tilings.json.
  sweep=()
  [ -z "${SWEEP:-}" ] || sweep=(--sweep "$out/tilings.json")
  step 200 "$node_bin" models/tools/research/dist/bench/kernels.js --input $input --width $width --backends webgpu --reps $reps --profile "${sweep[@]}"
  # cuDNN on the same layers and chip.
  "$node_bin" models/tools/research/dist/bench/kernels.js --input $input --width $width --layers-json "$out/layers.json" > /dev/null
  [ -n "${DRY_RUN:-}" ] || step 60 python3 models/tools/research/bench-gpu/torch_reference.py "$out/layers.json"
  # The plugin's path: load, warm-up, then analyses, with the paper-size network.
  step 45 "$node_bin" models/tools/research/dist/bench/first-analysis.js $full --runs 5
  [ -z "${SWEEP:-}" ] || step 45 "$node_bin" models/tools/research/dist/bench/first-analysis.js $full --runs 5 --tilings "$out/tilings.json"
  # Backward (dx + dW) per layer, and whole training steps, stock vs ours.
  step 60 "$node_bin" models/tools/research/dist/bench/kernels.js --input $grad_input --width $width --backends webgpu --reps 3 --grad
  step 60 "$node_bin" models/tools/research/dist/bench/train-step.js --backends webgpu --software-webgpu --width $width --grid $train_grid --batch 2 --steps 3 --profile
  date -u
} 2>&1 | tee "$log"
