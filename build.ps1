#!/usr/bin/env pwsh
# MeZO.Engine build script. Run with: dotnet tool restore && dotnet pwsh build.ps1 <target>
#   build   compile the solution (Release)
#   test    build, then run every test project (the CI entry point)
#   test-fast  build, then every test but the Slow category (learning runs, host-emulated kernels, kill/resume)
#   bench   run `mezo bench` (forward pass and matrix product against this machine's peak)
#   publish framework-dependent build of the CLI into artifacts/mezo (for tools/gpu-check.sh)
#   pack    the MeZO.Engine and MeZO.Trainer packages (.nupkg, .snupkg) into artifacts/packages
#   sample  pack, then build samples/EmbedMezo against those packages and run it (a short run on the bundled default)
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'test-fast', 'bench', 'publish', 'pack', 'sample')]
    [string] $Target = 'build',
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Set-Location $PSScriptRoot

function Invoke-Step([string] $Name, [scriptblock] $Command) {
    Write-Host "==> $Name" -ForegroundColor Cyan
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$Name failed with exit code $LASTEXITCODE" }
}

# The engine finds its CUDA kernels among its assembly's resources: a package whose MeZO.Engine.dll lacks one of
# Kernels/*.cu[h] would fail only on a GPU, at the first compile.
function Assert-KernelsPacked([string] $Package) {
    $zip = [IO.Compression.ZipFile]::OpenRead($Package)
    try {
        $dll = [IO.MemoryStream]::new()
        $entry = $zip.GetEntry('lib/net10.0/MeZO.Engine.dll')
        if ($null -eq $entry) { throw "$Package has no lib/net10.0/MeZO.Engine.dll" }
        $stream = $entry.Open(); $stream.CopyTo($dll); $stream.Dispose(); $dll.Position = 0
        $pe = [Reflection.PortableExecutable.PEReader]::new($dll)
        $metadata = [Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
        $resources = @($metadata.ManifestResources | ForEach-Object { $metadata.GetString($metadata.GetManifestResource($_).Name) })
        $pe.Dispose()
    } finally { $zip.Dispose() }
    $kernels = @(Get-ChildItem Kernels -File | Where-Object Extension -in '.cu', '.cuh' | ForEach-Object { "Kernels/$($_.Name)" })
    $missing = @($kernels | Where-Object { $_ -notin $resources })
    if ($missing.Count -gt 0) { throw "$Package lacks the kernels $($missing -join ', ')" }
    Write-Host "$Package holds all $($kernels.Count) kernels"
}

# The packages' version, set once for every project.
$PackageVersion = ([xml] (Get-Content Directory.Build.props)).Project.PropertyGroup.Version

function Invoke-Pack {
    Invoke-Step 'pack' { dotnet pack MeZO.Engine.sln -c $Configuration --nologo }
    Assert-KernelsPacked "artifacts/packages/MeZO.Engine.$PackageVersion.nupkg"
}

switch ($Target) {
    'build' {
        Invoke-Step 'build' { dotnet build MeZO.Engine.sln -c $Configuration --nologo }
    }
    'test' {
        Invoke-Step 'build' { dotnet build MeZO.Engine.sln -c $Configuration --nologo }
        Invoke-Step 'test' { dotnet test MeZO.Engine.sln -c $Configuration --no-build --nologo --logger 'console;verbosity=normal' }
    }
    'test-fast' {
        Invoke-Step 'build' { dotnet build MeZO.Engine.sln -c $Configuration --nologo }
        Invoke-Step 'test' { dotnet test MeZO.Engine.sln -c $Configuration --no-build --nologo --filter 'TestCategory!=Slow' }
    }
    'bench' {
        Invoke-Step 'build' { dotnet build tools/MeZO.Cli -c Release --nologo }
        Invoke-Step 'bench' { dotnet tools/MeZO.Cli/bin/Release/net10.0/mezo.dll bench forward }
    }
    'publish' {
        Invoke-Step 'publish' { dotnet publish tools/MeZO.Cli -c Release --nologo -o artifacts/mezo }
    }
    'pack' {
        Invoke-Pack
    }
    'sample' {
        Invoke-Pack
        # A version packed before sits in NuGet's global folder under the same number, and restore would take that one.
        $global = (dotnet nuget locals global-packages --list) -replace '^global-packages: ', ''
        foreach ($id in 'mezo.engine', 'mezo.trainer') {
            Remove-Item -Recurse -Force -ErrorAction Ignore (Join-Path $global "$id/$PackageVersion")
        }
        Invoke-Step 'sample build' { dotnet build samples/EmbedMezo -c $Configuration --nologo }
        Invoke-Step 'sample run' { dotnet "samples/EmbedMezo/bin/$Configuration/net10.0/EmbedMezo.dll" }
    }
}
