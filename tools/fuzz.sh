#!/usr/bin/env bash
# tools/fuzz.sh [TARGET ...] — fuzzes the file readers with AFL++ (afl-fuzz) through SharpFuzz, each target for
# FUZZ_SECONDS (default 45), and fails when any target crashed, printing each crashing input's path and its exception.
# A crash is any exception other than the reader's InvalidInputException (see tools/MeZO.Fuzz/FuzzTarget.cs).
# Needs afl-fuzz on the PATH (Debian: afl++), `dotnet tool restore` done and tools/MeZO.Fuzz built in Release; installs
# nothing. The instrumented copy and every target's findings stay in FUZZ_WORK (default: a new temporary folder).
#   FUZZ_SECONDS=600 tools/fuzz.sh config      one target for ten minutes
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-45}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/mezo-fuzz.XXXXXX")}
built="$repo/tools/MeZO.Fuzz/bin/Release/net10.0"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors shard-index config task-file run-files adapter-config)

command -v afl-fuzz >/dev/null || { echo "fuzz.sh: afl-fuzz not found (Debian: apt-get install afl++)" >&2; exit 2; }
[ -f "$built/MeZO.Fuzz.dll" ] || { echo "fuzz.sh: $built/MeZO.Fuzz.dll missing; build first: dotnet build tools/MeZO.Fuzz -c Release" >&2; exit 2; }

# SharpFuzz rewrites the assemblies under test in place to report branch coverage to afl-fuzz, so it works on a copy:
# the build output stays uninstrumented for the tests.
rm -rf "$work/bin" && mkdir -p "$work" && cp -r "$built" "$work/bin"
(cd "$repo" && for assembly in MeZO.Engine MeZO.Trainer; do dotnet sharpfuzz "$work/bin/$assembly.dll" >/dev/null; done)

# Containers have no CPU frequency governor and their core_pattern is the host's; afl-fuzz refuses to start unless
# told that is fine. The target is `dotnet`, not an instrumented binary, so its binary check is skipped too.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1

stat() { sed -n "s/^$2 *: *//p" "$1/default/fuzzer_stats"; }

failed=0
for target in "${targets[@]}"; do
    corpus="$repo/tools/MeZO.Fuzz/corpus/$target"
    [ -d "$corpus" ] || { echo "fuzz.sh: no corpus for target '$target' ($corpus)" >&2; exit 2; }
    findings="$work/findings/$target"
    mkdir -p "$work/findings"
    echo "==> fuzzing $target for ${seconds}s"
    # -t: .NET's first executions JIT the readers; -m none: the runtime reserves far more address space than it uses.
    # TMPDIR: the target's scratch folder, which a killed fuzzing process cannot delete, stays in the work folder.
    # AFL++ sometimes sees an empty coverage map on its very first execution of a fresh .NET process (seen once in
    # CI, on task-file, never reproduced): that start is retried, and a target that never starts is reported as not
    # fuzzed rather than failing CI, which fails on crashes found. Any other afl-fuzz failure fails.
    started=
    for attempt in 1 2 3; do
        rm -rf "$findings"
        if TMPDIR="$work" afl-fuzz -i "$corpus" -o "$findings" -x "$repo/tools/MeZO.Fuzz/json.dict" -t 10000 -m none -V "$seconds" -- "$(command -v dotnet)" "$work/bin/MeZO.Fuzz.dll" "$target" \
            > "$work/$target.log" 2>&1; then started=1; break; fi
        grep -q 'No instrumentation detected' "$work/$target.log" || { echo "fuzz.sh: afl-fuzz failed on $target:" >&2; tail -20 "$work/$target.log" >&2; exit 1; }
        echo "    afl-fuzz saw no coverage on its first run of $target (attempt $attempt of 3)"
    done
    if [ -z "$started" ]; then
        echo "WARNING fuzz.sh: $target was NOT fuzzed: afl-fuzz saw no coverage on its first run three times (log: $work/$target.log)" >&2
        continue
    fi
    echo "    $(stat "$findings" execs_done) executions in $(stat "$findings" run_time)s," \
         "$(stat "$findings" corpus_count) inputs in the queue, $(stat "$findings" saved_crashes) crashes," \
         "$(stat "$findings" saved_hangs) hangs (over 10 s)"
    for crash in "$findings"/default/crashes/id:*; do
        [ -e "$crash" ] || continue
        failed=1
        echo "CRASH $target: $crash"
        # Replayed on the uninstrumented build, which prints the exception; the runtime aborts the process after it.
        (dotnet "$built/MeZO.Fuzz.dll" "$target" < "$crash" > "$work/replay.txt" 2>&1 || true) 2>/dev/null
        grep -v '^ *at System\.' "$work/replay.txt" | head -12 | sed 's/^/    /'
    done
done
echo "fuzz.sh: findings in $work/findings"
exit $failed
