#!/usr/bin/env bash
# Set up (idempotent) and run the demo. Extra arguments go to the demo (try --help).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/setup.sh
exec dotnet run -c Release --no-build --project samples/NfNet.Demo -- "$@"
