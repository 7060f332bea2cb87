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
# and copies: vgg16-features.safetensors, train/ (up to TRAIN_PHOTOS photos, short side 256,
# as many as fit), styles/ (the paintings, as they are), test/ (the demo photos).
# The run tool sends at most 64 MiB: the checkout's files plus carry/. The script stops if
# carry/ would not fit beside the checkout (about 15 MiB, most of it models/); train/ takes
# the room that is left.
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
# The checkout travels too: train/ gets what room is left under the limit (less 1 MiB).
tree_bytes=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
LIMIT=$(( 63 * 1048576 ))
"$PY_IMG" - "$SHARED/data" "$CARRY" "$TRAIN_PHOTOS" "$(( LIMIT - tree_bytes ))" <<'PY'
import os, shutil, sys
from PIL import Image
data, carry, n, room = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
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
def fill(sub, files, budget=None, **kw):
    out = os.path.join(carry, sub)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    kept = 0
    for f in files:
        name = os.path.basename(f) if not kw else os.path.splitext(os.path.basename(f))[0] + ".jpg"
        dst = os.path.join(out, name)
        save(f, dst, **kw)
        if budget is not None:
            budget -= os.path.getsize(dst)
            if budget < 0:
                os.remove(dst)
                break
        kept += 1
    print(f"gpu-prepare: {sub}/ {kept} images", file=sys.stderr)
    return kept
def size_of(top):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(top) for f in fs)
styles = os.path.join(data, "styles")
# The paintings as they are (2.7 MB): the models' metadata hashes the file trained on, and
# `host-train eval` checks it against ../shared's.
fill("styles", [os.path.join(styles, f) for f in sorted(os.listdir(styles))
                if f.lower().endswith((".jpg", ".jpeg", ".png"))])
test = os.path.join(data, "content/test")
fill("test", [os.path.join(test, f) for f in sorted(os.listdir(test))], longer=1024)
# Spread over the whole folder (every step-th file), as many as fit.
train = sorted(os.listdir(os.path.join(data, "content/train")))
step = max(1, len(train) // n)
shutil.rmtree(os.path.join(carry, "train"), ignore_errors=True)  # the last run's photos
room -= size_of(carry)
kept = fill("train", [os.path.join(data, "content/train", f) for f in train[::step][:n]],
            budget=room, short=256)
if kept < n:
    print(f"gpu-prepare: train/ holds {kept} of TRAIN_PHOTOS={n}: the 64 MiB the run tool "
          "sends had no room for more", file=sys.stderr)
PY

carry_bytes=$(find "$CARRY" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
mib() { echo "$(( $1 / 1048576 ))"; }
log "carry/ $(mib "$carry_bytes") MiB + checkout $(mib "$tree_bytes") MiB of the run tool's 64 MiB"
if (( carry_bytes + tree_bytes > LIMIT )); then
  log "too large even so: carry/ less, or make the checkout smaller"
  exit 1
fi
