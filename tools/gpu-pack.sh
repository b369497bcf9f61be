#!/usr/bin/env bash
# tools/gpu-pack.sh — prepares ./.gpu/ (ignored by git) for tools/gpu-check.sh on a GPU machine that has no .NET:
# a framework-dependent Release build of mezo for linux-x64 and just the parts of the .NET runtime it needs
# (shared/Microsoft.NETCore.App/<version>, host/fxr/<version>, the dotnet muxer), in one compressed archive that must
# stay under the 64 MiB a device run can carry. Run it here, then: run(command="tools/gpu-check.sh out", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."

limit=$((64 * 1024 * 1024))
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime_version=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
[ -n "$runtime_version" ] || { echo "gpu-pack: no Microsoft.NETCore.App runtime found" >&2; exit 1; }

rm -rf .gpu
stage=.gpu/stage
mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/dotnet/host/fxr"
dotnet publish tools/MeZO.Cli -c Release -r linux-x64 --self-contained false -p:UseAppHost=false \
    -p:DebugType=none -o "$stage/mezo" --nologo -v quiet
cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime_version" "$stage/dotnet/shared/Microsoft.NETCore.App/"
cp -a "$dotnet_root/host/fxr/$runtime_version" "$stage/dotnet/host/fxr/"
cp -a "$dotnet_root/dotnet" "$stage/dotnet/"
echo "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . && echo "" || echo " with uncommitted changes")" > "$stage/commit"

# xz, not zstd: the GPU machine may lack both tools, and Python's standard library unpacks .tar.xz (gpu-check falls back to it).
archive=.gpu/mezo-gpu.tar.xz
tar -C "$stage" -cf - . | xz -9e -T0 > "$archive"
rm -rf "$stage"
size=$(stat -c %s "$archive")
echo "gpu-pack: $archive, $((size / 1024 / 1024)) MiB (.NET $runtime_version, commit $(git rev-parse --short HEAD))"
if [ "$size" -ge "$limit" ]; then
    echo "gpu-pack: the archive is over the 64 MiB a device run can carry" >&2
    exit 1
fi
