#!/usr/bin/env bash
# RUSTC_WORKSPACE_WRAPPER of scripts/tests/sim-unsafe.sh: cargo runs it as
# `asan-rustc.sh RUSTC ARGS...` for this crate's own targets only, never for a
# dependency. It compiles them with AddressSanitizer (-Zsanitizer is unstable:
# RUSTC_BOOTSTRAP=1 lets the stable compiler take it, for these calls only, so
# no dependency and no build script sees it and nothing of theirs is rebuilt).
# The build script and cargo's queries (-vV, --print) go through unchanged.
set -euo pipefail
rustc="$1"
shift
case " $* " in
  *" --crate-name build_script_build "* | *" -vV "* | *" --print"*) exec "$rustc" "$@" ;;
esac
# The dependencies are not instrumented (their code is not checked, the memory
# they allocate still is, through ASan's malloc): allow the mix.
RUSTC_BOOTSTRAP=1 exec "$rustc" "$@" -Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer
