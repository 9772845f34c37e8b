#!/usr/bin/env bash
# Packs every library under src/ into a local NuGet feed: scripts/pack.sh [FEED_DIR] [VERSION]
# (defaults: artifacts/feed and 0.1.0-local.<timestamp>, a version NuGet's global cache has never seen).
# Use the feed from a project with -p:RestoreAdditionalProjectSources=FEED_DIR, or from a notebook with #i "nuget: FEED_DIR".
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
feed="${1:-$repo_root/artifacts/feed}"
version="${2:-0.1.0-local.$(date +%Y%m%d%H%M%S)}"
mkdir -p "$feed"
for p in "$repo_root"/src/*/*.csproj; do
  dotnet pack "$p" -c Release -o "$feed" -p:Version="$version" -nologo -v quiet -clp:ErrorsOnly
done
echo "$version"
