#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite; ends with one plain line "N passed, N failed, N skipped".
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# dotnet test runs two test hosts at once here, each running tests on several threads, and every thread that calls
# libtorch gets an OpenMP team whose idle threads spin at their barriers: on 2 cores they starve each other. Asleep
# instead of spinning, the test projects ran in 354–363 s instead of 633 s (docs/platform.md, "Several processes or
# threads on few cores"). libgomp reads the variable when it loads, so it is set here, for every process the suite starts.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

bash scripts/setup.sh

results="$repo_root/artifacts/test-results"
rm -rf "$results"
status=0
# --blame-crash: if a test host crashes, the log names the test that was running, and the results folder keeps the
# sequence and a mini dump of the host (the runtime's createdump) to read the native stack from.
tests_status=0
dotnet test NfNet.sln -c Release --no-build --blame-crash --blame-crash-dump-type mini --logger "trx" --results-directory "$results" || tests_status=$?
# The fused CPU kernels again as a CPU without AVX-512 runs them: with DOTNET_EnableAVX512=0 Vector512 is not
# accelerated (.NET 10's knob; EnableAVX512F no longer is one), so the optimizer step takes its 256-bit loops. Seconds.
for project in NfNet.Optim.Tests NfNet.Core.Tests; do
    DOTNET_EnableAVX512=0 dotnet test "tests/$project" -c Release --no-build --blame-crash --blame-crash-dump-type mini \
        --filter "FullyQualifiedName~FusedCpuAgcSgd|FullyQualifiedName~FusedWeightStandardization" \
        --logger "trx;LogFileName=no-avx512-$project.trx" --results-directory "$results" || tests_status=$?
done
status=$tests_status

# No committed file may name a package registry's host: restores use the machine's configured sources.
if git grep -nIE "https?://[A-Za-z0-9.-]*(nuget|npmjs|debian)\.(org|com)" -- . > artifacts-registry-hosts.txt 2>/dev/null; then
    echo "registry hosts named in committed files:"; cat artifacts-registry-hosts.txt; status=1; hosts_failed=1
else
    echo "registry-host check: no committed file names a package registry's host"
fi
rm -f artifacts-registry-hosts.txt
# The code keeps the repository's style (.editorconfig).
if dotnet format NfNet.sln --verify-no-changes -v q > artifacts-format.log 2>&1; then
    echo "dotnet format --verify-no-changes: the code follows .editorconfig"
else
    echo "dotnet format --verify-no-changes failed (run 'dotnet format NfNet.sln'):"; head -20 artifacts-format.log; status=1; format_failed=1
fi
rm -f artifacts-format.log
# The packed NuGet packages must be consumable from a local feed.
bash scripts/check-package.sh || { echo "package check failed"; status=1; pack_failed=1; }
# The benchmarks must keep running: one dry iteration of every case at 64 px (about 40 s; measures nothing), and one
# step of the stopwatch timer (--step-timer) that the PyTorch comparison alternates with.
mkdir -p artifacts
if dotnet run -c Release --no-build --project benchmarks/NfNet.Benchmarks -- --quick --filter '*' > artifacts/benchmarks-quick.log 2>&1 \
    && [ "$(grep -cE '^\| (ConvCeiling|Inference|TrainingStep|OnnxInference|ImageLoader)Benchmark .*[0-9.,]+ (us|ms|s) ' artifacts/benchmarks-quick.log)" -ge 17 ] \
    && NFNET_BENCH_RES=64 NFNET_BENCH_BATCH=2 NFNET_BENCH_WARMUP=0 NFNET_BENCH_STEPS=1 \
       dotnet run -c Release --no-build --project benchmarks/NfNet.Benchmarks -- --step-timer >> artifacts/benchmarks-quick.log 2>&1 \
    && grep -qE '^nfnet F0 Float32: median [0-9.]+ ms' artifacts/benchmarks-quick.log; then
    echo "benchmarks --quick and --step-timer: every benchmark ran (log: artifacts/benchmarks-quick.log)"
else
    echo "benchmarks --quick or --step-timer failed (log: artifacts/benchmarks-quick.log)"; status=1; bench_failed=1
fi

# Totals from the TRX files (dotnet test prints one summary per project, which CI does not read).
read -r passed failed skipped < <(python3 - "$results" <<'PY' 2>/dev/null || echo "0 0 0"
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}Counters")
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    s += int(c.get("notExecuted", 0))
print(p, f, s)
PY
)
# A test host that crashed leaves no failed test in the TRX files: count it, so the line never says "0 failed" then.
if [ "$tests_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "dotnet test failed outside any test (a test host crashed?); sequence files and dumps: $(find "$results" -name 'Sequence_*' -o -name '*.dmp' | tr '\n' ' ')"
    failed=1
fi
if [ "${pack_failed:-0}" = "1" ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
if [ "${bench_failed:-0}" = "1" ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
if [ "${hosts_failed:-0}" = "1" ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
if [ "${format_failed:-0}" = "1" ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
