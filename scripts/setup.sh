#!/usr/bin/env bash
# One-time, idempotent set-up for NfNet.NET on a fresh machine.
#
#  1. TorchSharp 0.107's native bridge (libLibTorchSharp.so) needs a GCC 13+ C++ runtime (GLIBCXX_3.4.32).
#     We decide from the system libstdc++ itself whether that symbol version is there. Only when it is missing
#     on Debian do we add Debian 13 (trixie) with a low apt pin (priority 100, so nothing else is upgraded
#     from it) and install trixie's libstdc++6. Other systems are never changed: we say what is missing.
#  2. Optional data for the samples (Fashion-MNIST from Debian's dataset-fashion-mnist), when apt is there.
#     Open MPI (openmpi-bin, libopenmpi3) for data-parallel training across processes (NfNet.Distributed).
#  3. dotnet restore + build of the solution, and the local .NET tools (skip with NFNET_SETUP_NO_BUILD=1).
#
# Re-running it changes nothing once everything is in place.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root (these machines have no sudo), through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo "$@";
  else die "need root to run: $* (no sudo found)"; fi
}

required_glibcxx="GLIBCXX_3.4.32"

system_libstdcxx() {
  local p
  p="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
  if [ -z "$p" ]; then p="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 / {print $NF; exit}')"; fi
  if [ -z "$p" ]; then
    for c in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/aarch64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
      [ -e "$c" ] && { p="$c"; break; }
    done
  fi
  printf '%s' "$p"
}

has_required_runtime() {
  local lib; lib="$(system_libstdcxx)"
  [ -n "$lib" ] && grep -qa "$required_glibcxx" "$(readlink -f "$lib")"
}

# debian_mirror_uri: the machine's own Debian mirror (shared with benchmarks/pytorch-reference/setup.sh).
source "$repo_root/scripts/lib/debian-mirror.sh"

fix_cxx_runtime_on_debian() {
  local uri; uri="$(debian_mirror_uri)"
  [ -n "$uri" ] || die "could not find this machine's Debian mirror in /etc/apt/sources.list*"
  say "adding Debian 13 (trixie) from $uri with apt pin priority 100 (only packages asked for with -t trixie come from it)"
  as_root tee /etc/apt/sources.list.d/nfnet-trixie.sources >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root tee /etc/apt/preferences.d/nfnet-trixie >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  say "installing trixie's libstdc++6 (brings libc6 along; about 20-30 s)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t trixie libstdc++6 >/dev/null
}

ensure_cxx_runtime() {
  if [ "$(uname -s)" != "Linux" ]; then
    say "C++ runtime: not Linux ($(uname -s)); TorchSharp's native runtime needs nothing from us here"
    return
  fi
  if has_required_runtime; then
    say "C++ runtime: $(system_libstdcxx) defines $required_glibcxx - nothing to do"
    return
  fi
  say "C++ runtime: $(system_libstdcxx) lacks $required_glibcxx, which TorchSharp 0.107's libLibTorchSharp.so needs"
  local id=""
  [ -r /etc/os-release ] && id="$(. /etc/os-release && echo "${ID:-}")"
  if [ "$id" = "debian" ] && command -v apt-get >/dev/null 2>&1; then
    fix_cxx_runtime_on_debian
    has_required_runtime || die "installed trixie's libstdc++6 but $required_glibcxx is still missing"
    say "C++ runtime: now $(readlink -f "$(system_libstdcxx)") defines $required_glibcxx"
  else
    die "this system's libstdc++ is older than GCC 13. Install a GCC 13+ C++ runtime (libstdc++6 from GCC 13 or newer; Ubuntu 24.04+ and Debian 13+ have one), then re-run this script. Nothing was changed."
  fi
}

ensure_datasets() {
  # Fashion-MNIST (MIT licence) for the samples; tests use the committed slice and do not need it.
  local dir=/usr/share/datasets/fashion-mnist
  if [ -d "$dir" ] && ls "$dir"/*ubyte* >/dev/null 2>&1; then
    say "data: Fashion-MNIST found in $dir"
    return
  fi
  if [ "$(uname -s)" = "Linux" ] && command -v apt-get >/dev/null 2>&1 && [ "${NFNET_SETUP_NO_DATA:-0}" != "1" ]; then
    say "data: installing Debian's dataset-fashion-mnist into $dir"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null \
        || say "data: could not install dataset-fashion-mnist; samples accept --data DIR instead"
    fi
  else
    say "data: Fashion-MNIST not found; samples accept --data DIR (IDX files)"
  fi
}

ensure_open_mpi() {
  # NfNet.Distributed loads Open MPI's libmpi.so.40 at run time; mpirun starts the ranks. The distributed tests need both.
  # (grep without -q: under pipefail, grep -q's early exit can kill ldconfig with SIGPIPE and fail the check.)
  if command -v mpirun >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep 'libmpi\.so\.40' >/dev/null; then
    say "Open MPI: $(mpirun --version 2>/dev/null | head -1) - nothing to do"
    return
  fi
  if [ "$(uname -s)" = "Linux" ] && command -v apt-get >/dev/null 2>&1 && [ "${NFNET_SETUP_NO_MPI:-0}" != "1" ]; then
    say "Open MPI: installing Debian's openmpi-bin and libopenmpi3"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi3 >/dev/null 2>&1; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi3 >/dev/null \
        || { say "Open MPI: warning: could not install openmpi-bin and libopenmpi3; the demo works without them, distributed training and its tests need them"; return; }
    fi
    say "Open MPI: $(mpirun --version 2>/dev/null | head -1)"
  else
    say "Open MPI: not found; install Open MPI 4 (openmpi-bin/libopenmpi3 on Debian/Ubuntu) for distributed training"
  fi
}

report_disk() {
  # A first restore unpacks about 2.5 GB of TorchSharp/libtorch packages (every platform's natives) into the NuGet
  # cache; the build itself hard-links libtorch into each output folder (Directory.Build.props), so it adds little.
  local cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}" free_kb
  mkdir -p "$cache" 2>/dev/null || true
  free_kb="$(df -Pk "$cache" 2>/dev/null | awk 'NR==2 {print $4}')"
  [ -n "$free_kb" ] || return 0
  say "disk: $((free_kb / 1024)) MiB free for the NuGet cache ($cache)"
  if [ ! -d "$cache/libtorch-cpu-linux-x64" ] && [ "$free_kb" -lt $((3 * 1024 * 1024)) ]; then
    say "disk: warning: a first restore needs about 2.5 GB there; the build may fail with 'No space left on device'"
  fi
}

build_solution() {
  if [ "${NFNET_SETUP_NO_BUILD:-0}" = "1" ]; then say "build: skipped (NFNET_SETUP_NO_BUILD=1)"; return; fi
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is not on PATH"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  report_disk
  say "build: dotnet build NfNet.sln -c Release"
  (cd "$repo_root" && dotnet build NfNet.sln -c Release -nologo -v quiet -clp:ErrorsOnly) \
    || die "dotnet build failed"
  # The .NET Interactive kernel (dotnet-repl, pinned in .config/dotnet-tools.json) that the tests run the notebooks in.
  say "tools: dotnet tool restore"
  (cd "$repo_root" && dotnet tool restore >/dev/null) || die "dotnet tool restore failed"
}

ensure_cxx_runtime
ensure_datasets
ensure_open_mpi
build_solution
say "done"
