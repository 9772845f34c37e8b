#!/usr/bin/env bash
# NfNet.NET's training step against PyTorch + timm, process by process in one run: for each round and precision,
# NfNet.NET (the benchmark's --step-timer), PyTorch with glibc tuned as NfNet.NET tunes it (no mmap, no trimming),
# PyTorch with glibc's defaults, and PyTorch tuned + channels_last. Each prints its median step time.
#
#   benchmarks/pytorch-reference/interleave.sh [rounds, default 2]     (after setup.sh and a Release build)
# NFNET_BENCH_PRECISIONS, NFNET_BENCH_RES and NFNET_BENCH_BATCH as for the benchmarks; NFNET_TORCH_ROOT as for setup.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
root="${NFNET_TORCH_ROOT:-/var/tmp/nfnet-pytorch-root}"
rounds="${1:-2}"
bench="$repo_root/benchmarks/NfNet.Benchmarks/bin/Release/net10.0/NfNet.Benchmarks.dll"
[ -f "$bench" ] || { echo "build first: dotnet build -c Release benchmarks/NfNet.Benchmarks" >&2; exit 1; }
[ -f "$root/opt/train_step.py" ] || { echo "run $here/setup.sh first (no reference root at $root)" >&2; exit 1; }
cp "$here/train_step.py" "$root/opt/train_step.py"
"$here/mounts.sh" "$root"
size=(NFNET_BENCH_RES="${NFNET_BENCH_RES:-128}" NFNET_BENCH_BATCH="${NFNET_BENCH_BATCH:-8}")
# glibc as NativeAllocator.TuneForTensors sets it: M_MMAP_MAX = 0 and a trim threshold no heap reaches (64 GiB).
tuned=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736)
torch_step() { chroot "$root" env PYTHONPATH=/opt/timm "${size[@]}" "$@" python3 /opt/train_step.py 2>&1 | grep '^pytorch'; }
for round in $(seq 1 "$rounds"); do
  for precision in ${NFNET_BENCH_PRECISIONS:-Float32 MixedBFloat16 BFloat16}; do
    precision="${precision//,/}"
    echo "# round $round, $precision, $(date -u +%T)"
    env "${size[@]}" NFNET_BENCH_PRECISION="$precision" dotnet "$bench" --step-timer | grep '^nfnet'
    torch_step NFNET_BENCH_PRECISION="$precision" "${tuned[@]}" | sed 's/^pytorch/pytorch tuned:/'
    torch_step NFNET_BENCH_PRECISION="$precision" | sed 's/^pytorch/pytorch default:/'
    torch_step NFNET_BENCH_PRECISION="$precision" CHANNELS_LAST=1 "${tuned[@]}" | sed 's/^pytorch/pytorch tuned + channels_last:/'
  done
done
