#!/usr/bin/env bash
# First GPU run of the cudnn feature (shared/src/ops/conv/cudnn.rs, written without a GPU): is it
# right, and is it faster? About 3 minutes of device time. Expects carry/ with
#   host-train.xz, edge-runtime.xz              (scripts/build-cuda.sh)
#   host-train-cudnn.xz, edge-runtime-cudnn.xz  (scripts/build-cuda.sh --features cudnn)
#   stylecast-cudnn-test.xz                     (the library's unit tests with the cudnn
#                                                feature: cargo test -p stylecast --release
#                                                --features cudnn --lib --no-run, stripped)
#   vgg16-features.safetensors, and a model: models/*.safetensors from the checkout is used.
# Writes $OUT/cudnn.txt: check-device (CPU vs cuDNN: losses, every gradient, output), then
# inference and training benchmarks, plain CUDA build vs cuDNN build vs PyTorch.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/sc/bin
source "$(dirname "$0")/gpu-env.sh"
for b in host-train edge-runtime host-train-cudnn edge-runtime-cudnn stylecast-cudnn-test; do
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" carry/$b.xz /tmp/sc/bin/$b
  chmod +x /tmp/sc/bin/$b
done
export STYLECAST_VGG16=$PWD/carry/vgg16-features.safetensors
B=/tmp/sc/bin
M=models/starry_night.safetensors
SIZES=256x256,640x480,1280x720,1024x1024
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; date
  echo "## unit tests with cuDNN (cudnn conv vs CPU: output, both gradients, f16)"
  timeout 120 $B/stylecast-cudnn-test --nocapture; echo "rc=$?"
  echo "## check-device, cuDNN build";  timeout 120 $B/host-train-cudnn check-device --device cuda; echo "rc=$?"
  echo "## check-device, plain build";  timeout 120 $B/host-train check-device --device cuda; echo "rc=$?"
  for v in "" -cudnn; do
    echo "## edge-runtime$v bench f32"; timeout 60 $B/edge-runtime$v bench --model $M --device cuda --sizes $SIZES --reps 20 --warmup 3 --precision f32 --f16-weights
    echo "## edge-runtime$v bench f16"; timeout 60 $B/edge-runtime$v bench --model $M --device cuda --sizes $SIZES --reps 20 --warmup 3 --precision f16 --f16-weights
    echo "## host-train$v bench";       timeout 90 $B/host-train$v bench --device cuda --batch-size 4 --image-size 256 --steps 20 --warmup 3 --breakdown
  done
  # The same photo through both builds, f16: the pictures must agree.
  timeout 30 $B/edge-runtime --model $M --input assets/demo.jpg --output /tmp/sc/plain --device cuda --precision f16 --quiet
  timeout 30 $B/edge-runtime-cudnn --model $M --input assets/demo.jpg --output /tmp/sc/cudnn --device cuda --precision f16 --quiet
  python3 - <<'PY'
import numpy as np
from PIL import Image
a = np.asarray(Image.open('/tmp/sc/plain/demo_starry_night.png'), dtype=np.float64)
b = np.asarray(Image.open('/tmp/sc/cudnn/demo_starry_night.png'), dtype=np.float64)
mse = ((a - b) ** 2).mean()
print('plain vs cudnn f16 output: max abs diff', np.abs(a - b).max(), 'PSNR', 10 * np.log10(255**2 / mse) if mse else 'inf')
PY
  echo "## PyTorch"; timeout 120 /opt/torch/.venv/bin/python scripts/torch_reference.py --vgg "$STYLECAST_VGG16" --device cuda
} > "$OUT/cudnn.txt" 2>&1
cat "$OUT/cudnn.txt"
