#!/usr/bin/env bash
# Runs one test project with two threads forcing garbage collections and finalizers without pause (a startup hook),
# so that a TorchSharp object freed by its finalizer while libtorch reads it crashes the host at once instead of
# intermittently; a crash leaves a mini dump in artifacts/gc-pressure. Usage: scripts/test-under-gc-pressure.sh
# tests/NfNet.Core.Tests [dotnet test options, e.g. --filter ...]. About 15× slower than a plain run.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
project="${1:?usage: scripts/test-under-gc-pressure.sh <test project folder> [dotnet test options]}"
shift
dotnet build tests/NfNet.GcPressureHook -c Release -v q -nologo
hook="$repo_root/tests/NfNet.GcPressureHook/bin/Release/net10.0/NfNet.GcPressureHook.dll"
dotnet build "$project" -c Release -v q -nologo
DOTNET_STARTUP_HOOKS="$hook" dotnet test "$project" -c Release --no-build --blame-crash --blame-crash-dump-type mini \
    --results-directory "$repo_root/artifacts/gc-pressure" "$@"
