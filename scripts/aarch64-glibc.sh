# Sourced by scripts/cross-aarch64.sh and scripts/cross-jetson-cuda.sh: linking aarch64 binaries
# against an older glibc with zig (cargo-zigbuild), and checking what glibc a binary asks for.
# Debian 12's cross glibc is 2.36, so its binaries need GLIBC_2.35; zig ships the headers and
# symbol lists of every glibc and links against the version asked for.

# Puts cargo-zigbuild and zig (from PyPI, into $ZIG_VENV, default /tmp/zig) on PATH and drops
# the Debian cross-gcc settings that would override zig as compiler and linker.
use_zig() {
  ZIG_VENV="${ZIG_VENV:-/tmp/zig}"
  if [ ! -x "$ZIG_VENV/bin/cargo-zigbuild" ]; then
    echo "installing ziglang and cargo-zigbuild into $ZIG_VENV" >&2
    python3 -m venv "$ZIG_VENV"
    "$ZIG_VENV/bin/pip" install --quiet ziglang cargo-zigbuild
  fi
  export PATH="$ZIG_VENV/bin:$PATH"
  unset CC_aarch64_unknown_linux_gnu CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER
}

# check_glibc BIN [VERSION]: prints the newest GLIBC_ symbol version BIN needs; returns 1 if
# that is newer than VERSION (when one is given).
check_glibc() {
  local newest
  newest="$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)"
  echo "newest glibc symbol version it needs: $newest"
  if [ -n "${2:-}" ] && [ "$(printf '%s\n%s\n' "GLIBC_$2" "$newest" | sort -V | tail -1)" != "GLIBC_$2" ]; then
    echo "built for glibc $2 but $1 needs $newest" >&2
    return 1
  fi
}
