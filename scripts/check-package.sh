#!/usr/bin/env bash
# Packs the libraries into a local feed and builds + runs samples/PackageConsumer against the packed package.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
feed="$repo_root/artifacts/feed"
rm -rf "$feed" && mkdir -p "$feed"
# A unique version per check, so NuGet's global cache never serves a stale package.
version="0.1.0-local.$(date +%Y%m%d%H%M%S)"
for p in src/*/*.csproj; do
  dotnet pack "$p" -c Release -o "$feed" -p:Version="$version" -nologo -v quiet -clp:ErrorsOnly
done
cfg="$(mktemp)"
cat > "$cfg" <<CFG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
CFG
dotnet restore samples/PackageConsumer --configfile "$cfg" -p:NfNetVersion="$version" -nologo -v quiet
rm -f "$cfg"
out="$(dotnet run --project samples/PackageConsumer --no-restore -p:NfNetVersion="$version" -nologo)"
echo "$out"
grep -q "has 71489284 parameters" <<<"$out"
echo "package check: NfNet.Core $version from a local feed builds and runs"
