#!/usr/bin/env bash
# Builds the Debian package: target/debian/musicaly_<version>-1_<arch>.deb
#
#   scripts/package.sh            for this machine (amd64 here)
#   scripts/package.sh arm64      for arm64 VMs (GCP Tau T2A), cross-built
#   scripts/package.sh amd64
#
# Installs cargo-deb (pinned) into ~/.cache/musicaly/tools if missing, fetches the
# target's libduckdb.so (scripts/fetch-duckdb.sh), builds the release binary and
# packs: /usr/bin/musicaly, /usr/lib/musicaly/libduckdb.so (the binary's rpath
# finds it, see build.rs), the systemd units, /etc/musicaly/musicaly.toml as a
# conffile, and the maintainer scripts that create the `musicaly` system user and
# /var/lib/musicaly (deploy/debian/). Prints the .deb's path on stdout.
#
# Cross-building arm64 needs the Rust target and a cross linker/C compiler
# (librdkafka is compiled from C):
#   rustup target add aarch64-unknown-linux-gnu
#   apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
# The script sets the linker and compilers for cargo; everything else is the
# same as for amd64. Or build natively on an arm64 VM with `scripts/package.sh`.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/musicaly/target).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CARGO_DEB_VERSION=3.8.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
log() { printf 'package.sh: %s\n' "$*" >&2; }

host_arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$host_arch" in x86_64) host_arch=amd64 ;; aarch64) host_arch=arm64 ;; esac
arch="${1:-$host_arch}"
case "$arch" in
  amd64) triple=x86_64-unknown-linux-gnu platform=linux-x64 gnu=x86_64-linux-gnu ;;
  arm64) triple=aarch64-unknown-linux-gnu platform=linux-arm64 gnu=aarch64-linux-gnu ;;
  *) echo "package.sh: unknown architecture '$arch' (allowed: amd64, arm64)" >&2; exit 2 ;;
esac

tools="$cache/tools"
deb="$tools/bin/cargo-deb"
if ! { [ -x "$deb" ] && "$deb" --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; }; then
  log "installing cargo-deb $CARGO_DEB_VERSION into $tools (once)"
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --root "$tools" >&2
fi

deb_args=(--no-build --output "$CARGO_TARGET_DIR/debian/")
build_args=(--release --bin musicaly)
if [ "$arch" = "$host_arch" ]; then
  # The host's library, where .cargo/config.toml (or the caller) points DUCKDB_LIB_DIR.
  export DUCKDB_LIB_DIR="${DUCKDB_LIB_DIR:-$root/.duckdb}"
  scripts/fetch-duckdb.sh "$platform" "$DUCKDB_LIB_DIR"
  profile_dir="$CARGO_TARGET_DIR/release"
else
  export DUCKDB_LIB_DIR="$root/.duckdb/$platform"
  scripts/fetch-duckdb.sh "$platform" "$DUCKDB_LIB_DIR"
  rustup target list --installed 2>/dev/null | grep -qx "$triple" ||
    { echo "package.sh: the Rust target $triple is missing: rustup target add $triple" >&2; exit 1; }
  command -v "$gnu-gcc" >/dev/null ||
    { echo "package.sh: no cross compiler $gnu-gcc: apt-get install gcc-$gnu g++-$gnu" >&2; exit 1; }
  triple_env="$(echo "$triple" | tr 'a-z-' 'A-Z_')"
  export "CARGO_TARGET_${triple_env}_LINKER=$gnu-gcc"
  export "CC_${triple//-/_}=$gnu-gcc" "CXX_${triple//-/_}=$gnu-g++" "AR_${triple//-/_}=$gnu-ar"
  build_args+=(--target "$triple")
  deb_args+=(--target "$triple")
  profile_dir="$CARGO_TARGET_DIR/$triple/release"
fi
export DUCKDB_INCLUDE_DIR="$DUCKDB_LIB_DIR"

log "building the release binary for $arch"
cargo build "${build_args[@]}" >&2
# build.rs links the library here for the binary's $ORIGIN/../lib/musicaly; the
# asset list reads it from there.
[ -e "$profile_dir/lib/musicaly/libduckdb.so" ] ||
  { echo "package.sh: $profile_dir/lib/musicaly/libduckdb.so missing (build.rs links it)" >&2; exit 1; }
log "packing"
out="$("$deb" "${deb_args[@]}" 2>&2 | tail -n 1)"
[ -f "$out" ] || { echo "package.sh: cargo-deb printed no package path ($out)" >&2; exit 1; }
echo "$out"
