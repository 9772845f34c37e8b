#!/usr/bin/env bash
# Packs the libraries into a local feed and builds + runs samples/PackageConsumer against the packed package.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
feed="$repo_root/artifacts/feed"
rm -rf "$feed"
version="$(bash scripts/pack.sh "$feed" | tail -n 1)"
# The local feed is added to the machine's configured sources (no registry host is named in this repository).
dotnet restore samples/PackageConsumer -p:RestoreAdditionalProjectSources="$feed" -p:NfNetVersion="$version" -nologo -v quiet
out="$(dotnet run --project samples/PackageConsumer --no-restore -p:NfNetVersion="$version" -nologo)"
echo "$out"
grep -q "has 71489284 parameters" <<<"$out"
grep -q "resnet50 from the registry has 25557032 parameters" <<<"$out"
echo "package check: NfNet.Core and NfNet.Baselines $version from a local feed build and run"
