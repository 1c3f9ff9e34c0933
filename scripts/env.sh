# Sourced by the other scripts: makes a fresh Debian machine ready to build chatfn.
#  - lld, the linker every V8-linking binary uses (see .cargo/config.toml), and make and a C
#    compiler, which jemalloc's build needs;
#  - the V8 library from ../shared/v8 when it is there (elsewhere the v8 crate downloads its own).
set -euo pipefail
CHATFN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$CHATFN_ROOT"

build_tools=()
command -v ld.lld >/dev/null 2>&1 || build_tools+=(lld)
command -v make >/dev/null 2>&1 || build_tools+=(make)
command -v cc >/dev/null 2>&1 || build_tools+=(gcc)
if [ ${#build_tools[@]} -gt 0 ]; then
  echo "chatfn: installing ${build_tools[*]} (the linker for V8 binaries; make and a C compiler for jemalloc)..." >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${build_tools[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "chatfn: cargo is missing; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ -f "$CHATFN_ROOT/../shared/v8/env.sh" ]; then
  # shellcheck source=/dev/null
  source "$CHATFN_ROOT/../shared/v8/env.sh"
fi
