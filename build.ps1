#!/usr/bin/env pwsh
# MeZO.Engine build script. Run with: dotnet tool restore && dotnet pwsh build.ps1 <target>
#   build   compile the solution (Release)
#   test    build, then run every test project (the CI entry point)
#   test-fast  build, then every test but the Slow category (learning runs, host-emulated kernels, kill/resume)
#   bench   run `mezo bench` (forward pass and matrix product against this machine's peak)
#   publish framework-dependent build of the CLI into artifacts/mezo (for tools/gpu-check.sh)
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'test-fast', 'bench', 'publish')]
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
}
