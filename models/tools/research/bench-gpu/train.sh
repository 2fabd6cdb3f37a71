#!/usr/bin/env bash
# The shipped model's training run on an NVIDIA GPU machine (python3 with PyTorch and CUDA, 16
# cores, no Node.js, no network), as one command of under 10 minutes that returns its results
# while it runs. Here: `npm run build`, pack Node.js and the engine's node_modules into .gpu/
# (../shared/gpu-machine/pack.sh), carry .gpu, models/engine/dist, models/tools/*/dist and extension/dist. There, from the repository root:
#   bash models/tools/research/bench-gpu/train.sh
# 1. Benchmarks while the GPU is idle: the tfjs trainer on webgpu against the PyTorch trainer.
# 2. The TypeScript sampler (worker threads) writes randomised phantom VOIs on both grids;
#    validation (randomised, own seed) and held-out test VOIs (the generator's fixed look, seed 2)
#    are written beside them.
# 3. Four trainers share the GPU: CMSVNetIter at 1 mm and at 0.5 mm (width 16, the candidates),
#    and at 1 mm the ablation's vnet and clsnet.
# 4. The trained candidates' click-to-result on webgpu (Dawn on the NVIDIA Vulkan driver).
# The best models (float16 shards) and the logs are packed into $OUT every 90 s and at the end.
# A dry run on any machine with tiny sizes: DRY_RUN=1 bash models/tools/research/bench-gpu/train.sh
set -uo pipefail
out="${OUT:-/tmp/abus-train-gpu}"
mkdir -p "$out"
work=/tmp/abus-train
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
if [ -n "${DRY_RUN:-}" ]; then
  node_bin=node minutes=0.6 fine=64,32,64@1 coarse=32,16,32@2 width=4 workers=2 val=24 bench_grid=32,16,32 bench_width=4 batch_fine=2 batch=4 cap=2000
  export ABUS_PYTHON=${ABUS_PYTHON:-/usr/bin/python3}
else
  bash .gpu/setup.sh > /dev/null
  # shellcheck disable=SC1091
  source .gpu/env.sh
  node_bin="$DEVICE_NODE" minutes=5.8 fine=128,64,128@0.5 coarse=64,32,64@1 width=16 workers=11 val=256 bench_grid=64,32,64 bench_width=16 batch_fine=4 batch=16 cap=8000
  export ABUS_PYTHON=python3
fi
export PYTHONUNBUFFERED=1
tag() { local g=${1%@*} v=${1#*@}; echo "g${g//,/x}v${v}"; }
say() { echo "=== $(( $(date +%s) - start )) s: $*"; }
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  say "benchmark: training step, tfjs (webgpu) and PyTorch, same network, same run"
  timeout 60 "$node_bin" models/tools/research/dist/bench/train-step.js --width "$bench_width" --grid "$bench_grid" --batch 2 --steps 2 --backends webgpu,torch
  (cd models/torch && timeout 25 "$ABUS_PYTHON" -m abus_torch.bench_step --width "$bench_width" --grid "${fine%@*}" --batch 4 --steps 5 --bf16)
  (cd models/torch && timeout 25 "$ABUS_PYTHON" -m abus_torch.bench_step --width "$bench_width" --grid "${coarse%@*}" --batch 16 --steps 5 --bf16)
} 2>&1 | tee "$out/bench.log"

say "sampling" | tee -a "$out/run.log"
abus="$node_bin models/tools/cli/bin/abus-ai.js"
$abus sample --out "$work/val" --grid "$coarse" --grid "$fine" --phantoms --no-augment --seed 1000003 --count "$val" --workers 2 > "$work/val.log" 2>&1 &
$abus sample --out "$work/test" --grid "$coarse" --grid "$fine" --phantoms --no-randomize --no-augment --seed 2 --count "$val" --workers 2 > "$work/test.log" 2>&1 &
$abus sample --out "$work/samples" --grid "$coarse" --grid "$fine" --phantoms --seed 1 --workers "$workers" --keep 24 > "$work/sampler.log" 2>&1 &
sampler=$!

trainer() { # name variant grid batch
  local name=$1 variant=$2 grid=$3 b=$4
  (cd models/torch && "$ABUS_PYTHON" -m abus_torch.train --samples "$work/samples" --val "$work/val" --val-count "$val" --test "$work/test" \
    --tag "$(tag "$grid")" --out "$work/$name" --variant "$variant" --width "$width" --batch "$b" --lr 1e-3 --seed 1 \
    --minutes "$minutes" --eval-every 60 --capacity "$cap" --min-samples 32 --bf16 --tf32 --float16-weights \
    --provenance "{\"data\": \"synthetic ABUS phantoms drawn on the fly (models/tools/research/src/phantom, randomised imaging and anatomy, 25% lesion-free crops, normal-tissue negatives)\", \"command\": \"models/tools/research/bench-gpu/train.sh ($name)\"}" \
    > "$work/$name.log" 2>&1)
}
trainer cmsvnetiter-1mm cmsvnetiter "$coarse" "$batch" &
t1=$!
trainer cmsvnetiter-05mm cmsvnetiter "$fine" "$batch_fine" &
t2=$!
trainer vnet-1mm vnet "$coarse" "$batch" &
t3=$!
trainer clsnet-1mm clsnet "$coarse" "$batch" &
t4=$!

pack() {
  for m in cmsvnetiter-1mm cmsvnetiter-05mm; do
    [ -f "$work/$m/model/model-card.json" ] || continue
    rm -f "$out/$m.tar.part-"*
    tar -C "$work/$m" -cf - model 2>/dev/null | split -b 15m - "$out/$m.tar.part-"
  done
  tar -C "$work" -czf "$out/logs.tgz" --exclude='*.pt' --exclude='model' --exclude='samples' --exclude='val' --exclude='test' . 2>/dev/null
}
( while sleep 90; do pack; done ) &
packer=$!
wait $t1 $t2 $t3 $t4
say "training done" | tee -a "$out/run.log"
kill $sampler 2>/dev/null
for m in cmsvnetiter-1mm cmsvnetiter-05mm; do
  say "click-to-result on webgpu: $m" | tee -a "$out/run.log"
  timeout 60 "$node_bin" models/tools/research/dist/bench/first-analysis.js --backend webgpu --runs 5 --model "$work/$m/model" 2>&1 | tee -a "$out/run.log"
done
kill $packer 2>/dev/null
pack
grep -h "evaluation at\|held-out" "$work"/*.log 2>/dev/null | tail -40 >> "$out/run.log"
for m in cmsvnetiter-1mm cmsvnetiter-05mm vnet-1mm clsnet-1mm; do echo "$m: $(cat "$work/$m/test-metrics.json" 2>/dev/null | tr -d '\n ')"; done | tee -a "$out/run.log"
say "end" | tee -a "$out/run.log"
ls -la "$out"
