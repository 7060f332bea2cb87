#!/usr/bin/env bash
# Cross-build edge-runtime for 64-bit ARM Linux (Jetson, Raspberry Pi 4/5) on an x86-64 Debian
# or Ubuntu machine, then check it under qemu-user against the x86-64 build: the same photo and
# model must give the same PNG within one level per pixel (PSNR >= 50 dB).
#
#   scripts/cross-aarch64.sh            install what is missing, build, check under qemu
#   scripts/cross-aarch64.sh --build    build only (no qemu, no x86-64 build, no test)
#   scripts/cross-aarch64.sh [--build] --glibc 2.27
#                                       for an older glibc (JetPack 4: 2.27, JetPack 5: 2.31), linked
#                                       by zig through cargo-zigbuild (both installed from PyPI into
#                                       $ZIG_VENV, default /tmp/zig); output under target/glibc-2.27/
#
# Output: target/aarch64-unknown-linux-gnu/release/edge-runtime (or under $CARGO_TARGET_DIR).
# Copy it to the board with a model (see docs/jetson.md). It needs glibc >= 2.35 on the board
# (Debian 12's cross glibc is 2.36; the binary asks for GLIBC_2.35): JetPack 6 / Ubuntu 22.04 and
# Raspberry Pi OS bookworm are fine; JetPack 4/5 (Ubuntu 18.04/20.04, glibc 2.27/2.31) are not:
# build on the board there (docs/jetson.md).
#
# Needs: rustup (for the aarch64 std), apt (for gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# qemu-user-static), ../shared beside the checkout for the check. No arm64 -dev packages are
# needed: minifb and x11-dl load X11/Wayland at run time, and the camera bindings (linuxvideo)
# are plain Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/aarch64-glibc.sh

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
BUILD_ONLY=0
GLIBC=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD_ONLY=1 ;;
    --glibc) GLIBC="${2:?--glibc needs a version, e.g. 2.27}"; shift ;;
    *) echo "cross-aarch64: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
  shift
done

t0=$(date +%s)
stamp() { echo "cross-aarch64: [$(( $(date +%s) - t0 )) s] $*"; }

# --- tools ----------------------------------------------------------------------------------
need_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
[ "$BUILD_ONLY" = 1 ] || need_pkgs="$need_pkgs qemu-user-static"
missing=""
for p in $need_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# qemu-user (qemu-aarch64) does as well as qemu-user-static (qemu-aarch64-static).
if [ "$BUILD_ONLY" = 0 ] && command -v qemu-aarch64 >/dev/null; then
  missing="${missing/ qemu-user-static/}"
fi
if [ -n "$missing" ]; then
  stamp "installing:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if ! rustc --print sysroot >/dev/null 2>&1 || [ ! -d "$(rustc --print sysroot)/lib/rustlib/$TARGET/lib" ]; then
  stamp "adding the Rust std for $TARGET"
  if ! rustup target add "$TARGET"; then
    echo "cross-aarch64: error: 'rustup target add $TARGET' failed: no std for aarch64 for $(rustc -V)." >&2
    echo "  Offline machines: install the rust-std-$TARGET component from the same release by hand," >&2
    echo "  or build natively on the board (docs/jetson.md)." >&2
    exit 1
  fi
fi

# bindgen (v4l2-sys-mit) runs the host libclang (libclang-dev) with --target=$TARGET; Debian's
# clang finds the cross headers in $SYSROOT/include by itself.
# cc-rs (minifb's scalar.c) and the linker (.cargo/config.toml) use aarch64-linux-gnu-gcc.
export CC_aarch64_unknown_linux_gnu="${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"

# x11-dl's build script asks pkg-config for libX11's folder and bakes it in as a fallback for
# dlopen; without this it gets the x86-64 one (/usr/lib/x86_64-linux-gnu). With no arm64 .pc files
# there it bakes nothing and the board's loader finds libX11.so.6 by name, as it would anyway.
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu="${PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu:-/usr/lib/aarch64-linux-gnu/pkgconfig}"

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BUILD=(cargo build --release --target "$TARGET" -p edge-runtime)
if [ -n "$GLIBC" ]; then
  use_zig
  # its own folder, so the x86-64 build and the tests below keep theirs
  TARGET_DIR="target/glibc-$GLIBC"
  BUILD=(cargo zigbuild --release --target "$TARGET.$GLIBC" --target-dir "$TARGET_DIR" -p edge-runtime)
fi
AARCH64_BIN="$TARGET_DIR/$TARGET/release/edge-runtime"

# --- build ----------------------------------------------------------------------------------
stamp "${BUILD[*]}"
t=$(date +%s)
"${BUILD[@]}"
stamp "aarch64 build took $(( $(date +%s) - t )) s"
file "$AARCH64_BIN" 2>/dev/null || ls -l "$AARCH64_BIN"
check_glibc "$AARCH64_BIN" "$GLIBC" || { echo "cross-aarch64: error: glibc check failed" >&2; exit 1; }
[ "$BUILD_ONLY" = 1 ] && exit 0

# --- check under qemu -----------------------------------------------------------------------
if [ ! -d ../shared/conformance ] && [ -z "${STYLECAST_SHARED:-}" ]; then
  echo "cross-aarch64: error: ../shared (conformance model, test photos) must sit beside the checkout" >&2
  exit 1
fi
SHARED="${STYLECAST_SHARED:-../shared}"
QEMU="${STYLECAST_QEMU:-$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)}"
[ -n "$QEMU" ] || { echo "cross-aarch64: error: no qemu-aarch64 or qemu-aarch64-static" >&2; exit 1; }

stamp "smoke run under $QEMU"
"$QEMU" -L "$SYSROOT" "$AARCH64_BIN" --version

# The x86-64 binary the aarch64 one is compared with (the test also compares with the library).
stamp "cargo build --release -p edge-runtime (x86-64, for the comparison)"
cargo build --release -p edge-runtime

# The pixel comparison: tests/tests/aarch64_qemu.rs writes coffee.jpg at 96x64, runs the aarch64
# binary under qemu and the x86-64 binary on it, decodes the PNGs and asserts max abs diff <= 1
# and PSNR >= 50 dB against both the x86-64 binary and the in-process library. (Under qemu the
# network runs ~30x slower than natively, so the photo is small: ~10 s.)
# --workspace: the same feature set (so the same build) as the README's `cargo test --workspace --release`.
stamp "cargo test --release --workspace --test aarch64_qemu"
STYLECAST_AARCH64_BIN="$(realpath "$AARCH64_BIN")" STYLECAST_QEMU="$QEMU" STYLECAST_AARCH64_SYSROOT="$SYSROOT" \
  cargo test --release --workspace --test aarch64_qemu -- --nocapture
stamp "done: $AARCH64_BIN"
