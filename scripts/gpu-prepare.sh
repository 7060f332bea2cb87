#!/usr/bin/env bash
# Fills carry/ (git-ignored) with everything the GPU scripts expect, on this machine without
# a GPU, so a session's few minutes of device time go to running rather than setting up:
#
#   scripts/gpu-prepare.sh            # then, on the device: bash scripts/gpu-cudnn-check.sh
#                                     #   and VARIANT=-cudnn bash scripts/gpu-session.sh 300
#
# Builds (scripts/build-cuda.sh, sm_$CUDA_COMPUTE_CAP, about 5 min each the first time):
#   host-train.xz, edge-runtime.xz               plain CUDA (candle's convolutions)
#   host-train-cudnn.xz, edge-runtime-cudnn.xz   --features cudnn
#   stylecast-cudnn-test.xz                      the library's unit tests with cuDNN
# and copies: vgg16-features.safetensors, train/ (TRAIN_PHOTOS photos, short side 256),
# styles/ (the paintings, as they are), test/ (the demo photos).
# The run tool sends at most 64 MiB: the checkout's files plus carry/. The script stops if
# carry/ would not fit beside the checkout (about 14 MiB, most of it models/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STYLECAST_SHARED:-$ROOT/../shared}"
CARRY="$ROOT/carry"
TRAIN_PHOTOS="${TRAIN_PHOTOS:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/cuda}"
log() { echo "gpu-prepare: $*" >&2; }
mkdir -p "$CARRY"

pack() { # pack SRC NAME: strip, then xz (the binaries are mostly PTX, which packs well)
  local tmp
  tmp="$(mktemp)"
  cp "$1" "$tmp"
  strip "$tmp"
  xz -9e -T2 -c "$tmp" > "$CARRY/$2.xz"
  rm -f "$tmp"
  log "$2.xz $(du -h "$CARRY/$2.xz" | cut -f1)"
}

# 1. Binaries. Plain first, then cudnn (same target dir: only stylecast and above rebuild).
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  "$ROOT/scripts/build-cuda.sh"
  pack "$CARGO_TARGET_DIR/release/host-train" host-train
  pack "$CARGO_TARGET_DIR/release/edge-runtime" edge-runtime
  "$ROOT/scripts/build-cuda.sh" --features cudnn
  pack "$CARGO_TARGET_DIR/release/host-train" host-train-cudnn
  pack "$CARGO_TARGET_DIR/release/edge-runtime" edge-runtime-cudnn
  eval "$(CUDA_SETUP_ONLY=1 "$ROOT/scripts/build-cuda.sh")"
  test_bin="$(cd "$ROOT" && nice -n 10 cargo test -p stylecast --release --features cudnn --lib --no-run \
    --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')"
  [[ -x "$test_bin" ]] || { log "the cudnn unit-test binary did not build"; exit 1; }
  pack "$test_bin" stylecast-cudnn-test
fi

# 2. Data: the VGG weights, photos pre-resized (decoding full-size JPEGs is not what the
#    device should spend its minutes on), paintings, demo photos.
cp "$SHARED/weights/vgg16-features.safetensors" "$CARRY/"
PY_IMG=python3
if ! python3 -c 'import PIL' 2>/dev/null; then
  PREP_VENV="${PREP_VENV:-/tmp/gpu-prep-venv}"
  [[ -x "$PREP_VENV/bin/python" ]] || python3 -m venv "$PREP_VENV"
  "$PREP_VENV/bin/python" -c 'import PIL' 2>/dev/null || "$PREP_VENV/bin/python" -m pip install --quiet pillow
  PY_IMG="$PREP_VENV/bin/python"
fi
"$PY_IMG" - "$SHARED/data" "$CARRY" "$TRAIN_PHOTOS" <<'PY'
import os, shutil, sys
from PIL import Image
data, carry, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def save(src, dst, short=None, longer=None):
    if not short and not longer:
        shutil.copyfile(src, dst)
        return
    im = Image.open(src).convert("RGB")
    w, h = im.size
    s = short / min(w, h) if short else longer / max(w, h)
    if s < 1:
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    im.save(dst, quality=85)
def fill(sub, files, **kw):
    out = os.path.join(carry, sub)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    for f in files:
        name = os.path.basename(f) if not kw else os.path.splitext(os.path.basename(f))[0] + ".jpg"
        save(f, os.path.join(out, name), **kw)
    print(f"gpu-prepare: {sub}/ {len(files)} images", file=sys.stderr)
train = sorted(os.listdir(os.path.join(data, "content/train")))
step = max(1, len(train) // n)
fill("train", [os.path.join(data, "content/train", f) for f in train[::step][:n]], short=256)
styles = os.path.join(data, "styles")
# The paintings as they are (2.7 MB): the models' metadata hashes the file trained on, and
# `host-train eval` checks it against ../shared's.
fill("styles", [os.path.join(styles, f) for f in sorted(os.listdir(styles))
                if f.lower().endswith((".jpg", ".jpeg", ".png"))])
test = os.path.join(data, "content/test")
fill("test", [os.path.join(test, f) for f in sorted(os.listdir(test))], longer=1024)
PY

carry_bytes=$(du -sb "$CARRY" | cut -f1)
tree_bytes=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
mib() { echo "$(( $1 / 1048576 ))"; }
log "carry/ $(mib "$carry_bytes") MiB + checkout $(mib "$tree_bytes") MiB of the run tool's 64 MiB"
if (( carry_bytes + tree_bytes > 63 * 1048576 )); then
  log "too large: lower TRAIN_PHOTOS (now $TRAIN_PHOTOS)"
  exit 1
fi
