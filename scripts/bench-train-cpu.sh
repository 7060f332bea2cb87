#!/usr/bin/env bash
# CPU training-step benchmark: `host-train bench` at each shape (ms/step, per-phase breakdown,
# peak RSS), and PyTorch eager on the same network, VGG weights and losses in the same minutes
# when TORCH_PYTHON names a Python with torch (scripts/torch_reference.py --device cpu).
#
#   scripts/bench-train-cpu.sh                       # shapes 1x128 2x128 4x256 (BATCHxSIZE)
#   TORCH_PYTHON=/path/venv/bin/python ROUNDS=2 scripts/bench-train-cpu.sh 2x128 4x256
#   HOST_TRAIN=target-ab/release/host-train scripts/bench-train-cpu.sh   # another build, for A/B
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=("${@:-1x128 2x128 4x256}")
read -r -a shapes <<<"${shapes[*]}"
bin=${HOST_TRAIN:-target/release/host-train}
vgg=${STYLECAST_VGG16:-../shared/weights/vgg16-features.safetensors}
steps=${STEPS:-3}
[ -x "$bin" ] || cargo build --release -p host-train
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "${ROUNDS:-1}"); do
  for s in "${shapes[@]}"; do
    b=${s%x*} n=${s#*x}
    echo "## ours batch $b ${n}x$n (round $round, load $(cut -d' ' -f1 /proc/loadavg))"
    /usr/bin/time -f "peak RSS %M KB" "$bin" bench --vgg "$vgg" --batch-size "$b" --image-size "$n" \
      --steps "$steps" --warmup 1 --breakdown 2>&1 | grep -v '^\s*$'
    if [ -n "${TORCH_PYTHON:-}" ]; then
      echo "## PyTorch batch $b ${n}x$n"
      "$TORCH_PYTHON" scripts/torch_reference.py --vgg "$vgg" --device cpu --sizes "" \
        --train-shapes "$s" --train-steps "$steps" | grep train_step
    fi
  done
done
