#!/usr/bin/env bash
# scripts/setup.sh: installs everything visual-rft needs to build, test and benchmark.
#
# Idempotent and quick when already done: Debian packages are installed only when one is
# missing, and the project venv (.venv) is refreshed only when scripts/requirements.txt
# changed since the last successful install (a hash stamp in .venv). A package that cannot be
# had stops the script with a message naming it.
#
# usage: scripts/setup.sh            (from anywhere; paths are relative to the checkout)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQS="$ROOT/scripts/requirements.txt"

# Debian packages (the libraries the build links), plus the compiler toolchain.
APT_PACKAGES=(
  g++ cmake make ninja-build python3 python3-venv ccache clang-format
  libopencv-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libsentencepiece-dev libpcre2-dev libutf8proc-dev libgtest-dev
  libgloo-dev  # Gloo's headers, for LibTorch's ProcessGroupGloo (data parallelism on the CPU)
)

say() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

# --- Debian packages ---------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    # python3 / cmake / g++ may come from elsewhere (pyenv, a toolchain); accept those.
    case "$pkg" in
      python3|cmake|g++|make) command -v "$pkg" >/dev/null 2>&1 && continue ;;
      python3-venv) python3 -c 'import venv, ensurepip' >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq || die "apt-get update failed"
  for pkg in "${missing[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      die "Debian package '$pkg' cannot be had (apt-cache show finds no candidate)"
    fi
  done
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || die "apt-get install failed for: ${missing[*]}"
fi

# --- Python venv with torch (LibTorch) and the reference packages --------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
fi
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  # The packages take about 6 GB; a full disk shows up in pip as an interrupted download.
  free_kb="$(df -Pk "$ROOT" | awk 'NR == 2 {print $4}')"
  if [[ -n "$free_kb" && "$free_kb" -lt $((8 * 1024 * 1024)) ]]; then
    die "only $((free_kb / 1024 / 1024)) GB free on the disk of $ROOT: the Python packages (torch) need about 6 GB and the build 3 GB more"
  fi
  say "installing Python packages from scripts/requirements.txt (torch is large: minutes)"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null || die "pip upgrade failed"
  # The torch wheel is 530 MB: a connection that drops mid-download is resumed (pip's
  # --resume-retries) and the whole install tried up to 3 times before anything is blamed.
  # pip unpacks into TMPDIR and, when interrupted, leaves the folders there (hundreds of MB
  # each): give it a folder of its own, removed when this script ends.
  PIP_TMP="$(mktemp -d "${TMPDIR:-/tmp}/vrft-pip.XXXXXX")"
  trap 'rm -rf "$PIP_TMP"' EXIT
  pip_install() { TMPDIR="$PIP_TMP" "$VENV/bin/pip" install -q --retries 10 --timeout 60 --resume-retries 20 "$@"; }
  installed=0
  for attempt in 1 2 3; do
    if pip_install -r "$REQS"; then installed=1; break; fi
    say "pip install failed (attempt $attempt of 3)"
    sleep $((attempt * 10))
  done
  # One package at a time would be slow; on failure, find and name the culprit.
  if [[ $installed == 0 ]]; then
    while read -r line; do
      line="${line%%#*}"; [[ -z "${line// }" ]] && continue
      pip_install "$line" >/dev/null 2>&1 || die "Python package '$line' cannot be had"
    done < "$REQS"
    die "pip install -r scripts/requirements.txt failed"
  fi
  echo "$want" > "$stamp"
fi

# The Debian libraries use the C++11 ABI; LibTorch must too, or linking fails obscurely.
"$VENV/bin/python" - <<'EOF' || die "the torch wheel in .venv is unusable (see above)"
import torch, sys
if not torch.compiled_with_cxx11_abi():
    sys.exit("torch was not built with the C++11 ABI; the Debian libraries need it")
EOF
say "ok ($(cd "$ROOT" && "$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
