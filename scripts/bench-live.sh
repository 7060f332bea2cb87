#!/usr/bin/env bash
# End-to-end live FPS on the CPU: the moving test pattern through the network to a window
# (under a private Xvfb), at 320x240 and 640x480 (camera, inference and window all that
# size). Prints the runtime's summary line per size and a Markdown table.
#
#   scripts/bench-live.sh [MODEL]        (default: first model in ./models, else the
#                                         conformance network in ../shared)
# Environment: FRAMES (default 20), SIZES (default "320x240 640x480"), BIN (a built
# edge-runtime; default: build target/release/edge-runtime), DEVICE (default cpu).
# Needs Xvfb (apt-get install xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMES="${FRAMES:-20}"
SIZES="${SIZES:-320x240 640x480}"
DEVICE="${DEVICE:-cpu}"
MODEL="${1:-}"
if [[ -z "$MODEL" ]]; then
  MODEL="$(ls models/*.safetensors 2>/dev/null | head -n1 || true)"
  [[ -n "$MODEL" ]] || MODEL="../shared/conformance/transformer_net/model.safetensors"
fi
[[ -f "$MODEL" ]] || { echo "no model at $MODEL" >&2; exit 1; }
command -v Xvfb >/dev/null || { echo "Xvfb is missing: apt-get install xvfb" >&2; exit 1; }

if [[ -z "${BIN:-}" ]]; then
  cargo build --release -q -p edge-runtime
  BIN=target/release/edge-runtime
fi

# A free display number.
n=140
while [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1280x1024x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done

echo "# live end-to-end: test pattern -> $MODEL -> window, $FRAMES frames, device $DEVICE, $(nproc) cores"
rows=()
for size in $SIZES; do
  line="$(DISPLAY=":$n" "$BIN" --model "$MODEL" --source test-pattern --camera-size "$size" \
    --infer-size "$size" --fps 30 --frames "$FRAMES" --device "$DEVICE" 2>/dev/null | grep '^summary:')"
  echo "$size: $line"
  fps="$(sed -E 's/.*fps ([0-9.]+).*/\1/' <<<"$line")"
  inf="$(sed -E 's/.*mean inference ([0-9.]+) ms.*/\1/' <<<"$line")"
  lat="$(sed -E 's/.*mean latency ([0-9.]+) ms.*/\1/' <<<"$line")"
  drop="$(sed -E 's/.*dropped ([0-9]+).*/\1/' <<<"$line")"
  rows+=("| $size | $fps | $inf | $lat | $drop |")
done
echo
echo "| size | end-to-end fps | inference ms | latency ms | dropped |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
