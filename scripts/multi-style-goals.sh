#!/usr/bin/env bash
# Issue 21's goals, measured (a bench, not a CI test):
#  (a) one network of 8 paintings against 8 single-style networks trained for the same
#      number of steps on the same photos, scored by `host-train eval` on the demo photos;
#  (b) `add-style` of one of the paintings, with the shared weights frozen, against the style
#      loss that painting got as a member of the joint network, within a wall-clock budget.
#
#   scripts/multi-style-goals.sh STAGE [OUT (target/multi-goals)]
#   STAGE: singles | joint | add | eval | report | all
#   env: STEPS (200), SIZE (128: crops), NET (small), BATCH (4), STYLE_SIZE (256),
#        ADD_STYLE (the_scream), ADD_MINUTES (10), BIN (target/release/host-train)
# The reduced size (the narrow network, 128 px crops, a few hundred steps) is what two CPU
# cores allow in an hour; models/README.md records what it gave.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="${1:?usage: scripts/multi-style-goals.sh singles|joint|add|eval|report|all [OUT]}"
OUT="$(realpath -m "${2:-target/multi-goals}")"
STEPS="${STEPS:-200}"; SIZE="${SIZE:-128}"; NET="${NET:-small}"; BATCH="${BATCH:-4}"
STYLE_SIZE="${STYLE_SIZE:-256}"; ADD_STYLE="${ADD_STYLE:-the_scream}"; ADD_MINUTES="${ADD_MINUTES:-10}"
BIN="${BIN:-target/release/host-train}"
SHARED=../shared/data
PAINTINGS="composition_vii starry_night the_great_wave the_scream udnie bedroom_in_arles shipwreck_of_the_minotaur te_fare"
COMMON=(--dataset "$SHARED/content/train" --net "$NET" --image-size "$SIZE" --style-size "$STYLE_SIZE"
        --batch-size "$BATCH" --max-steps "$STEPS" --seed 42 --quiet)
mkdir -p "$OUT/styles" "$OUT/single" "$OUT/eval"
for p in $PAINTINGS; do ln -sf "$(realpath "$SHARED/styles/$p.jpg")" "$OUT/styles/$p.jpg"; done

singles() {
  for p in $PAINTINGS; do
    [ -f "$OUT/single/$p.safetensors" ] && continue
    echo "== single $p ($STEPS steps)"
    "$BIN" train --style "$OUT/styles/$p.jpg" --out "$OUT/single/$p.safetensors" "${COMMON[@]}"
  done
}
joint() {
  [ -f "$OUT/multi.safetensors" ] && return
  echo "== joint: $(echo $PAINTINGS | wc -w) styles ($STEPS steps)"
  "$BIN" train --styles "$OUT/styles" --out "$OUT/multi.safetensors" "${COMMON[@]}"
}
add() {
  # The painting's own scales and shifts are not used: it starts from the mean of all the
  # joint network's styles and learns its own with the convolutions frozen.
  echo "== add-style $ADD_STYLE onto the joint network, $ADD_MINUTES min"
  /usr/bin/time -v "$BIN" add-style "$OUT/multi.safetensors" --style "$OUT/styles/$ADD_STYLE.jpg" \
    --name "${ADD_STYLE}_added" --out "$OUT/added.safetensors" --dataset "$SHARED/content/train" \
    --image-size "$SIZE" --batch-size "$BATCH" --steps 100000 --time-limit $((ADD_MINUTES * 60)) \
    --seed 43 --log "$OUT/add-style.jsonl" --quiet 2> "$OUT/add-style.time"
}
evaluate() {
  mkdir -p "$OUT/eval/parts"
  for p in $PAINTINGS; do   # the f32 files only (NAME.f16.safetensors sits beside each)
    [ -f "$OUT/single/$p.safetensors" ] || continue
    "$BIN" eval "$OUT/single/$p.safetensors" --photos "$SHARED/content/test" --styles "$OUT/styles" \
      --size "$SIZE" --json "$OUT/eval/parts/$p.json"
  done
  "$BIN" eval "$OUT/multi.safetensors" --photos "$SHARED/content/test" --styles "$OUT/styles" \
    --size "$SIZE" --json "$OUT/eval/multi.json"
  if [ -f "$OUT/added.safetensors" ]; then
    ln -sf "$(realpath "$SHARED/styles/$ADD_STYLE.jpg")" "$OUT/styles/${ADD_STYLE}_added.jpg"
    "$BIN" eval "$OUT/added.safetensors" --photos "$SHARED/content/test" --styles "$OUT/styles" \
      --size "$SIZE" --json "$OUT/eval/added.json"
    rm "$OUT/styles/${ADD_STYLE}_added.jpg"
  fi
}
report() { python3 scripts/multi_style_goals.py "$OUT" --add-style "$ADD_STYLE"; }

case "$STAGE" in
  singles) singles ;; joint) joint ;; add) add ;; eval) evaluate ;; report) report ;;
  all) singles; joint; add; evaluate; report ;;
  *) echo "unknown stage $STAGE" >&2; exit 2 ;;
esac
