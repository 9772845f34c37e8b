#!/usr/bin/env bash
# Set up (idempotent) and run the demo: the nfnet tool, `nfnet train` by default (Fashion-MNIST, 20 epochs).
# Arguments go to the tool: options of `train` (./scripts/demo.sh --epochs 5), or a command first
# (./scripts/demo.sh validate --checkpoint nfnet-demo-output/checkpoint.nfckpt --data /usr/share/datasets/fashion-mnist).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/setup.sh
case "${1:-}" in
  train|validate|predict|export|benchmark|info|models|write-images|-h|--help|--version) ;;
  *) set -- train "$@" ;;
esac
exec dotnet src/NfNet.Cli/bin/Release/net10.0/NfNet.Cli.dll "$@"
