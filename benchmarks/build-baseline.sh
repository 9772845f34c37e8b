#!/usr/bin/env bash
# Builds this checkout's benchmarks against another checkout's library, for a lockstep ring of the two builds
# (benchmarks/pytorch-reference/lockstep.sh, NFNET_LOCKSTEP_BASELINE): the same benchmark code on both sides, so the
# ring times the libraries, not the benchmarks. The copy goes to <checkout>/benchmarks/NfNet.Benchmarks.Lockstep
# (replaced on every run) and builds there, against that checkout's src and its package versions; the last line out is
# the path of the built NfNet.Benchmarks.dll.
#
#   git worktree add --detach ../baseline e79034b
#   benchmarks/build-baseline.sh ../baseline
#
# As with NFNET_BENCH_BASELINE_SRC, the benchmarks may use only API that both libraries have.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="${1:?usage: build-baseline.sh <another checkout>}"
[ -f "$checkout/src/NfNet.Core/NfNet.Core.csproj" ] || { echo "build-baseline.sh: '$checkout' has no src/NfNet.Core/NfNet.Core.csproj (give a checkout of this repository)" >&2; exit 1; }
target="$(cd "$checkout" && pwd)/benchmarks/NfNet.Benchmarks.Lockstep"
rm -rf "$target"
mkdir -p "$target"
(cd "$here/NfNet.Benchmarks" && find . -path ./bin -prune -o -path ./obj -prune -o -path ./BenchmarkDotNet.Artifacts -prune -o -type f -print0 |
  xargs -0 cp --parents -t "$target")
dotnet build -c Release "$target/NfNet.Benchmarks.csproj" -nologo -v quiet > "$target/build.log" 2>&1 ||
  { tail -20 "$target/build.log" >&2; echo "build-baseline.sh: the build against '$checkout' failed (log: $target/build.log)" >&2; exit 1; }
echo "$target/bin/Release/net10.0/NfNet.Benchmarks.dll"
