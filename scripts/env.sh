# Sourced by the other scripts: makes a fresh Debian machine ready to build chatfn.
#  - lld, the linker every V8-linking binary uses (see .cargo/config.toml);
#  - the V8 library from ../shared/v8 when it is there (elsewhere the v8 crate downloads its own).
set -euo pipefail
CHATFN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$CHATFN_ROOT"

if ! command -v ld.lld >/dev/null 2>&1; then
  echo "chatfn: installing lld (the linker for V8 binaries)..." >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lld >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "chatfn: cargo is missing; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ -f "$CHATFN_ROOT/../shared/v8/env.sh" ]; then
  # shellcheck source=/dev/null
  source "$CHATFN_ROOT/../shared/v8/env.sh"
fi
