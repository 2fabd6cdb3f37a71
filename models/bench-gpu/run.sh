#!/usr/bin/env bash
# The GPU run of `npm run bench:kernels`, prepared for the device machine (an NVIDIA GPU, no Node.js,
# no network). Here: `npm run build`, then pack Node.js and the needed node_modules with the
# workplace's gpu-machine pack.sh into .gpu/, and carry .gpu and models/dist (both git-ignored).
# There, from the repository root:
#   bash models/bench-gpu/run.sh
# It prints (and writes to $OUT when set) stock tfjs-webgpu vs this project's kernels on the GPU
# through Dawn, both kernel variants, cold vs warm, and the same layers in PyTorch/cuDNN.
set -euo pipefail
out="${OUT:-/tmp/abus-bench-gpu}"
mkdir -p "$out"
bash .gpu/setup.sh
# shellcheck disable=SC1091
source .gpu/env.sh
node_bin="${DEVICE_NODE:-node}"
args=(--input 128x64x128 --width 16 --backends webgpu --reps 5)
"$node_bin" models/dist/bench/kernels.js "${args[@]}" | tee "$out/kernels-webgpu-default.txt"
"$node_bin" models/dist/bench/kernels.js "${args[@]}" --staging workgroup | tee "$out/kernels-webgpu-workgroup.txt"
"$node_bin" models/dist/bench/kernels.js "${args[@]}" --staging direct | tee "$out/kernels-webgpu-direct.txt"
"$node_bin" models/dist/bench/kernels.js --input 64x32x64 --width 16 --backends webgpu --reps 3 --grad | tee "$out/kernels-webgpu-grad.txt"
"$node_bin" models/dist/bench/kernels.js --input 128x64x128 --width 16 --layers-json "$out/layers.json"
python3 models/bench-gpu/torch_reference.py "$out/layers.json" | tee "$out/kernels-cudnn.txt"
