#!/usr/bin/env bash
# Installs what kcache builds with, from Debian's packages. Idempotent: installs only what is missing.
set -euo pipefail

# The CUDA toolkit (ptxas, libdevice, nvJitLink) is not a Debian package: kcache uses it at run
# time when /usr/local/cuda (or $KCACHE_CUDA_HOME) has it, and skips what needs it otherwise.
packages=(
  build-essential cmake ninja-build pkg-config
  libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  llvm-19-dev liblld-19-dev lld-19 llvm-19
  libamdhip64-dev
  libhiredis-dev redis-server libcli11-dev libboost-context-dev nlohmann-json3-dev
  clang-19 libclang-rt-19-dev
  patchelf xz-utils # scripts/gpu-bundle.sh: RUNPATHs into the bundle, the archive
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
