#!/usr/bin/env bash
# Fails when the default build of the workspace needs more than a Rust toolchain and a C
# compiler: bindgen (libclang) or a -sys crate that probes system libraries with pkg-config.
# Allowed -sys crates are listed with why; a new one must be looked at and added here.
set -euo pipefail
cd "$(dirname "$0")/.."
# linux-raw-sys: pure Rust syscall numbers. wayland-sys: minifb turns on its `dlopen`
# feature, with which its build script returns before pkg-config. x11-dl's pkg-config lookup
# is optional (it loads libX11 at run time).
ALLOWED="linux-raw-sys wayland-sys"
tree="$(cargo tree --workspace -e build,normal --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u)"
bad=""
for c in $tree; do
  case "$c" in
    bindgen|clang-sys) bad="$bad $c" ;;
    *-sys) [[ " $ALLOWED " == *" $c "* ]] || bad="$bad $c" ;;
  esac
done
if ! cargo tree --workspace -e features -i wayland-sys 2>/dev/null | grep -q 'wayland-sys feature "dlopen"'; then
  if echo "$tree" | grep -qx wayland-sys; then bad="$bad wayland-sys(without dlopen)"; fi
fi
if [ -n "$bad" ]; then
  echo "check-build-deps: the default build needs system headers or libclang again:$bad" >&2
  echo "  (see docs/architecture.md; use crates that load system libraries at run time)" >&2
  exit 1
fi
echo "check-build-deps: no bindgen, no pkg-config-probed -sys crates"
