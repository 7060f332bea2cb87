#!/usr/bin/env bash
# One prepared run on the GPU machine (H100/H200, no Rust there). Expects carry/ with:
#   host-train.xz, edge-runtime.xz  (scripts/build-cuda.sh, stripped, xz -9e)
#   vgg16-features.safetensors, train/ (photos), styles/, test/ (demo photos)
# Writes under $OUT: check.txt, bench.txt, models.tar (f16 models), results.tar (logs,
# loss curves, previews), sheet.tar (demo photos stylized on the GPU in f16).
# Usage there: bash scripts/gpu-session.sh [training seconds]
# VARIANT=-cudnn uses carry/host-train-cudnn.xz and carry/edge-runtime-cudnn.xz (built with
# `scripts/build-cuda.sh --features cudnn`) instead; check them first with gpu-cudnn-check.sh.
set -uo pipefail
TRAIN_SECONDS=${1:-330}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/sc/bin /tmp/sc/models
source "$(dirname "$0")/gpu-env.sh"
for b in host-train edge-runtime; do
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" carry/$b${VARIANT:-}.xz /tmp/sc/bin/$b
  chmod +x /tmp/sc/bin/$b
done
export PATH=/tmp/sc/bin:$PATH STYLECAST_VGG16=$PWD/carry/vgg16-features.safetensors
LOG=$OUT/bench.txt
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; date; } > "$LOG"

# 1. The CUDA path against the CPU (which the conformance tests hold to PyTorch).
# TRAIN_ONLY=1 skips this and the benchmarks (a second run with little device time left).
[ "${TRAIN_ONLY:-0}" = 1 ] || timeout 90 host-train check-device --device cuda > "$OUT/check.txt" 2>&1; echo "rc=$?" >> "$OUT/check.txt"

# 2. Train the styles side by side (one process each; candle leaves the GPU idle between
#    small kernels, so several runs share it well), for a fixed time budget.
#    Each continues the shipped model of its name (--init models/NAME.safetensors: its steps
#    add up in the metadata's total_steps across sessions); FRESH=1 starts from scratch.
#    A continued style keeps the loss weights and style size in its metadata (tuned per
#    painting, see models/README.md); SW only applies to fresh runs.
#    A new seed per session so the photos come in a new order.
#    The last FINISH_SECONDS (default a fifth) of each run continue its result at a fifth
#    of the learning rate (FINISH_LR): on the CPU, 80 such steps took the_scream's demo-photo
#    content loss 47.3 -> 43.2 and style 4.45e-4 -> 4.18e-4, where 80 more at 1e-3 gave
#    44.3 / 4.63e-4 (models/README.md). FINISH_SECONDS=0 skips it.
declare -A SW=( [starry_night]=1e10 [the_great_wave]=2e9 [the_scream]=5e9 [composition_vii]=3e9 )
SEED=${SEED:-$(date +%s)}
DEVICE=${DEVICE:-cuda}
FINISH_SECONDS=${FINISH_SECONDS:-$((TRAIN_SECONDS / 5))}
FINISH_LR=${FINISH_LR:-2e-4}
# train NAME OUT_STEM START_ARGS...: the main stage into OUT_STEM.main, then the finishing
# stage into OUT_STEM (what the rest of the script reads).
train() {
  local name=$1 stem=$2; shift 2
  local common=(--style carry/styles/$name.jpg --dataset carry/train --name $name --device "$DEVICE"
    --epochs 100 --max-steps 20000 --checkpoint-every 1000 --preview-every 1000
    --preview-image carry/test/chicago.jpg --quiet)
  if [ "$FINISH_SECONDS" -le 0 ]; then
    host-train train "${common[@]}" "$@" --seed "$SEED" --out $stem.safetensors \
      --time-limit "$TRAIN_SECONDS" > $stem.log 2>&1
    return
  fi
  host-train train "${common[@]}" "$@" --seed "$SEED" --out $stem.main.safetensors \
    --time-limit $((TRAIN_SECONDS - FINISH_SECONDS)) > $stem.main.log 2>&1 &&
  host-train train "${common[@]}" --init $stem.main.safetensors --seed $((SEED + 1)) \
    --lr "$FINISH_LR" --warmup-steps 20 --out $stem.safetensors \
    --time-limit "$FINISH_SECONDS" > $stem.log 2>&1
}
for s in "${!SW[@]}"; do
  START=(--style-weight "${SW[$s]}" --style-size 512)
  [ "${FRESH:-0}" = 1 ] || [ ! -f models/$s.safetensors ] || START=(--init models/$s.safetensors)
  train $s /tmp/sc/models/$s "${START[@]}" &
done
#    The narrow CPU-kiosk style (models/small/, NetConfig::small) continues alongside, as
#    small-starry_night (unpack it to models/small/starry_night.safetensors).
[ -f models/small/starry_night.safetensors ] && \
  train starry_night /tmp/sc/models/small-starry_night --init models/small/starry_night.safetensors &
wait
tail -n 3 /tmp/sc/models/*.log >> "$LOG"

# 3. Benchmarks, ours then PyTorch, on the idle GPU.
M=$(ls /tmp/sc/models/*.f16.safetensors | grep -v '\.main\.' | head -1)
F32=${M%.f16.safetensors}.safetensors
[ "${TRAIN_ONLY:-0}" = 1 ] || {
  echo "## edge-runtime bench (f32 weights, f32 compute)"; timeout 60 edge-runtime bench --model "$F32" --device cuda --sizes 256x256,640x480,1280x720,1024x1024 --reps 20 --warmup 3 --precision f32
  echo "## edge-runtime bench (f16 weights, f16 compute)"; timeout 60 edge-runtime bench --model "$M" --device cuda --sizes 256x256,640x480,1280x720,1024x1024 --reps 20 --warmup 3 --precision f16 --f16-weights
  echo "## host-train bench"; timeout 60 host-train bench --device cuda --batch-size 4 --image-size 256 --steps 20 --warmup 3 --breakdown
  echo "## PyTorch"; timeout 120 /opt/torch/.venv/bin/python scripts/torch_reference.py --vgg "$STYLECAST_VGG16" --device cuda
} >> "$LOG" 2>&1

# 3b. How each new model scores on the demo photos (content vs style, models/README.md).
timeout 60 host-train eval $(ls /tmp/sc/models/*.f16.safetensors | grep -v '\.main\.') --photos carry/test --styles carry/styles \
  --device cuda > "$OUT/eval.txt" 2>&1

# 4. Stylize the demo photos with every style, f16 on the GPU, for the preview sheet.
mkdir -p /tmp/sc/sheet
for m in $(ls /tmp/sc/models/*.f16.safetensors | grep -v '\.main\.'); do
  timeout 30 edge-runtime --model "$m" --input carry/test --output /tmp/sc/sheet --device cuda --precision f16 --quiet >> "$LOG" 2>&1
done
(cd /tmp/sc/models && tar cf "$OUT/models.tar" $(ls *.f16.safetensors | grep -v '\.main\.'))
(cd /tmp/sc && tar cf "$OUT/results.tar" models/*.log models/*.run/losses.jsonl models/*.run/loss_curve.png models/*.run/preview-*.png)
(cd /tmp/sc && tar cf "$OUT/sheet.tar" sheet)
ls -la "$OUT"
