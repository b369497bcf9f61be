#!/usr/bin/env bash
# tools/gpu-check.sh OUTDIR — the GPU machine's one prepared check, within 8 minutes:
#   1. mezo verify --backend cuda: every op against the CPU in three configurations, a full MeZO step, tiny models'
#      logits, CUDA graphs, memory accounting;
#   2. the Gpu test category, where a .NET SDK happens to be installed (the carried runtime cannot run tests);
#   3. benchmarks on random bf16 checkpoints of OPT-1.3B and OPT-13B shape, generated here by PyTorch: our forward
#      tokens/s, MeZO step time and peak memory, side by side with (a) the MeZO paper's PyTorch step on the same
#      shapes (transformers' OPT, torch.normal per parameter from a reseeded generator, four parameter passes) and
#      (b) PyTorch backprop with AdamW (float32 master weights, bf16 autocast);
#   4. memory side by side on OPT-1.3B: `mezo bench memory --backend cuda` (MeZO, SGD, AdamW, AdamW with gradient
#      checkpointing, engine bytes by category) beside PyTorch's SGD, AdamW and checkpointed AdamW peaks;
#   5. streaming (issue 14) on OPT-13B: `mezo bench step --max-device-memory 12GiB`, the step with the 24 GiB of bf16
#      weights resident beside the step with the layers in pinned host memory, copied in as each runs;
#   6. beside each of our OPT step measurements, `mezo bench step --plan` for the same shape, batch, length, z arithmetic
#      and GPU kind (from nvidia-smi's name): the step's roofline estimate, so the table shows measured / roofline;
# and writes results.json and results.md (plus every phase's raw output) into OUTDIR.
# Needs .gpu/ from tools/gpu-pack.sh (carry it), python3 with torch and transformers; no network, no dotnet.
set -uo pipefail

out=${1:?usage: tools/gpu-check.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
budget=${GPU_CHECK_SECONDS:-470} # 8 minutes, less a margin for the caller's own start and copy
batch=${GPU_CHECK_BATCH:-16}
length=${GPU_CHECK_LENGTH:-256}
steps=${GPU_CHECK_STEPS:-3}
start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/mezo-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
log() { echo "[gpu-check $((SECONDS - start))s] $*" | tee -a "$out/gpu-check.log"; }
left() { echo $((budget - (SECONDS - start))); }

# Runs a phase with what is left of the budget (at most its own cap); records skipped, timed-out and failed phases.
phase() {
    local name=$1 cap=$2 need=$3; shift 3
    local remaining; remaining=$(left)
    if [ "$remaining" -lt "$need" ]; then
        log "$name: skipped, ${remaining}s left, it needs about ${need}s"
        echo "{\"phase\": \"$name\", \"status\": \"skipped\", \"reason\": \"time: ${remaining}s left\"}" > "$out/$name.status.json"
        return 1
    fi
    local limit=$(( remaining < cap ? remaining : cap ))
    log "$name: start (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.out" 2> "$out/$name.err"
    local rc=$?
    local status=ok
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status=timeout
    [ "$rc" -ne 0 ] && [ "$status" = ok ] && status=failed
    log "$name: $status (exit $rc)"
    echo "{\"phase\": \"$name\", \"status\": \"$status\", \"exit\": $rc}" > "$out/$name.status.json"
    return "$rc"
}

# ---- the carried build and runtime ----
archive="$repo/.gpu/mezo-gpu.tar.xz"
python=$(command -v python3 || command -v python || true)
if [ ! -f "$archive" ]; then
    log "no .gpu/mezo-gpu.tar.xz: run tools/gpu-pack.sh first and carry .gpu"
    exit 1
fi
if command -v xz > /dev/null; then
    xz -dc "$archive" | tar -C "$work" -xf -
elif [ -n "$python" ]; then # no xz here: Python's tarfile reads .tar.xz by itself
    "$python" -c 'import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' "$archive" "$work"
fi
if [ ! -x "$work/dotnet/dotnet" ] || [ ! -f "$work/mezo/mezo.dll" ]; then
    log "could not unpack $archive (neither xz nor python3 here?)"
    exit 1
fi
export DOTNET_ROOT="$work/dotnet" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
printf '#!/bin/sh\nexec "%s/dotnet/dotnet" "%s/mezo/mezo.dll" "$@"\n' "$work" "$work" > "$work/mezo.sh" # a file: timeout runs it
chmod +x "$work/mezo.sh"
export MEZO_KERNEL_CACHE="$work/kernel-cache"

# NVRTC and cuBLASLt: a CUDA toolkit if there is one, else the pip wheels PyTorch depends on (nvidia-*-cu12, or
# nvidia/cu13 for CUDA 13 wheels; both have their libraries in nvidia/<package>/lib).
wheel_libs=""
if [ -n "$python" ]; then
    wheel_libs=$("$python" - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
folders = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "*", "lib", "lib*.so*"))})
print(":".join(folders))
PY
)
fi
export MEZO_CUDA_LIBRARY_PATH="${MEZO_CUDA_LIBRARY_PATH:+$MEZO_CUDA_LIBRARY_PATH:}$wheel_libs"
export LD_LIBRARY_PATH="${wheel_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" # NVRTC finds its builtins library beside itself

{
    echo "commit: $(cat "$work/commit")"
    echo "date: $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1
    "$DOTNET_ROOT/dotnet" --list-runtimes 2>&1
    [ -n "$python" ] && "$python" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1
    echo "MEZO_CUDA_LIBRARY_PATH=$MEZO_CUDA_LIBRARY_PATH"
} > "$out/environment.txt"
log "environment: $(head -3 "$out/environment.txt" | tr '\n' ' ')"

# The GPU kind --plan takes its data-sheet limits from; another GPU gets no roofline column.
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
case "$gpu_name" in
    *H200*) gpu_kind=h200 ;;
    *H100*) gpu_kind=h100 ;;
    *A100*) gpu_kind=a100 ;;
    *) gpu_kind="" ;;
esac

# ---- 1. every op on the GPU against the CPU ----
phase verify 240 60 "$work/mezo.sh" verify --backend cuda --json
cp "$out/verify.out" "$out/verify.json" 2>/dev/null

# ---- 2. the Gpu tests, only where a .NET SDK is installed ----
if command -v dotnet > /dev/null && dotnet --list-sdks 2>/dev/null | grep -q .; then
    phase gpu-tests 180 120 dotnet test "$repo/Tests/MeZO.Engine.Tests" -c Release --filter TestCategory=Gpu
else
    log "gpu-tests: no .NET SDK on this machine; mezo verify ran the same parity harness and GPU-only checks"
fi

# ---- 3. benchmarks ----
cat > "$work/torch_bench.py" <<'PY'
"""PyTorch side of tools/gpu-check.sh: random OPT checkpoints and the two baselines, one JSON object per run."""
import argparse, json, statistics, sys, time

import torch
from transformers import OPTConfig, OPTForCausalLM

SHAPES = {
    "opt-1.3b": dict(hidden_size=2048, num_hidden_layers=24, ffn_dim=8192, num_attention_heads=32, word_embed_proj_dim=2048),
    "opt-13b": dict(hidden_size=5120, num_hidden_layers=40, ffn_dim=20480, num_attention_heads=40, word_embed_proj_dim=5120),
}

args = argparse.ArgumentParser()
args.add_argument("--shape", required=True, choices=sorted(SHAPES))
args.add_argument("--mode", required=True, choices=["save", "mezo", "adamw", "sgd", "adamw-ckpt"])
args.add_argument("--folder")
args.add_argument("--batch", type=int, default=16)
args.add_argument("--length", type=int, default=256)
args.add_argument("--steps", type=int, default=3)
a = args.parse_args()

config = OPTConfig(vocab_size=50272, max_position_embeddings=2048, do_layer_norm_before=True, activation_function="relu",
                   enable_bias=True, pad_token_id=1, bos_token_id=2, eos_token_id=2, **SHAPES[a.shape])


def build(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        torch.manual_seed(0)
        with torch.device("cuda"):
            return OPTForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)


def timed(fn, repeats):
    seconds = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds)


result = {"shape": a.shape, "mode": a.mode, "batch": a.batch, "length": a.length, "steps": a.steps,
          "torch": torch.__version__, "device": torch.cuda.get_device_name()}
try:
    if a.mode == "save":
        model = build(torch.bfloat16)
        t = time.perf_counter()
        # safetensors is save_pretrained's only format in transformers 5 (which dropped safe_serialization) and its
        # default in 4.x; 10 GB shards give the 13B model three shards and an index, as large checkpoints come.
        model.save_pretrained(a.folder, max_shard_size="10GB")
        result.update(parameters=sum(p.numel() for p in model.parameters()), save_seconds=time.perf_counter() - t)
    elif a.mode == "mezo":
        # MeZO's large_models/trainer.py: zo_perturb_parameters reseeds and draws torch.normal for every parameter in
        # order, in the parameter's dtype; a step is +eps, forward, -2 eps, forward, +eps (restore), then the update
        # pass drawing z once more: four passes over the parameters.
        model = build(torch.bfloat16).eval()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        ids = torch.randint(0, config.vocab_size, (a.batch, a.length), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
        eps, lr, weight_decay = 1e-3, 1e-7, 0.0

        def forward():
            with torch.inference_mode():
                return model(input_ids=ids, labels=ids).loss.item()

        def perturb(seed, scale):
            torch.manual_seed(seed)
            for _, p in params:
                z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
                p.data = p.data + scale * z * eps

        seed = [0]

        def step():
            seed[0] += 1
            s = seed[0]
            perturb(s, 1)
            plus = forward()
            perturb(s, -2)
            minus = forward()
            perturb(s, 1)
            g = (plus - minus) / (2 * eps)
            torch.manual_seed(s)
            for name, p in params:
                z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
                if "bias" not in name and "layer_norm" not in name and "layernorm" not in name:
                    p.data = p.data - lr * (g * z + weight_decay * p.data)
                else:
                    p.data = p.data - lr * g * z

        forward()
        torch.cuda.reset_peak_memory_stats()
        forward_seconds = timed(forward, 2 * a.steps)
        inference_peak = torch.cuda.max_memory_allocated()
        step()
        torch.cuda.reset_peak_memory_stats()
        step_seconds = timed(step, a.steps)
        result.update(parameters=sum(p.numel() for _, p in params), forward_seconds=forward_seconds,
                      tokens_per_second=a.batch * a.length / forward_seconds, step_seconds=step_seconds,
                      inference_peak_bytes=inference_peak, training_peak_bytes=torch.cuda.max_memory_allocated())
    else:
        # Backprop as fine-tuning usually runs: float32 master weights, bf16 autocast, fused AdamW (or plain SGD), and
        # for adamw-ckpt transformers' gradient checkpointing.
        adam = a.mode.startswith("adamw")
        with torch.device("meta"):
            # float32 weights and gradients, and two moments for AdamW
            need = sum(p.numel() for p in OPTForCausalLM(config).parameters()) * (16 if adam else 8)
        torch.cuda.empty_cache()
        free, _ = torch.cuda.mem_get_info()
        if need > free:
            result.update(status="does not fit", detail=f"float32 weights, gradients{' and Adam moments' if adam else ''} need "
                                                        f"{need / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free")
        else:
            model = build(torch.float32).train()
            if a.mode == "adamw-ckpt":
                model.config.use_cache = False
                model.gradient_checkpointing_enable()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True) if adam else torch.optim.SGD(model.parameters(), lr=1e-5)
            ids = torch.randint(0, config.vocab_size, (a.batch, a.length), device="cuda")

            def step():
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = model(input_ids=ids, labels=ids).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            step()
            torch.cuda.reset_peak_memory_stats()
            step_seconds = timed(step, a.steps)
            result.update(step_seconds=step_seconds, training_peak_bytes=torch.cuda.max_memory_allocated())
    result.setdefault("status", "ok")
except torch.cuda.OutOfMemoryError as e:
    result.update(status="out of memory", detail=str(e).splitlines()[0])
json.dump(result, sys.stdout)
print()
PY

# Records a phase that cannot run, as phase() records a skipped one.
skip() {
    log "$1: skipped, $2"
    echo "{\"phase\": \"$1\", \"status\": \"skipped\", \"reason\": \"$2\"}" > "$out/$1.status.json"
}

# The roofline of the step `mezo verify --bench` measures on a shape (`mezo bench step --plan`: config.json only, no
# GPU used), under the name of the measurement it stands beside; extra arguments go before the command (env VAR=...).
plan_ours() {
    local name=$1 shape=$2; shift 2
    if [ -z "$gpu_kind" ]; then
        skip "plan-$name" "no data-sheet limits for '${gpu_name:-no GPU name}' (a100, h100, h200)"
        return 0
    fi
    phase "plan-$name" 60 5 "$@" "$work/mezo.sh" bench step --backend cuda --plan --gpu "$gpu_kind" --model "$repo/samples/configs/$shape" \
        --dtype bf16 --batch-size "$batch" --length "$length"
}

# Our engine on a shape: PyTorch writes a random bf16 checkpoint (as save_pretrained does: shards and an index), which
# `mezo verify --bench` loads and times. The folder stays for the fast-z run at the end.
bench_ours() {
    local shape=$1 need_save=$2 need_ours=$3 disk=$4
    local folder="$work/$shape" free
    plan_ours "$shape" "$shape"
    free=$(df -P -B1 "$work" | awk 'NR == 2 { print $4 }')
    if [ "${free:-0}" -lt "$disk" ]; then
        skip "save-$shape" "$((free / 1000000000)) GB free on disk, the checkpoint needs $((disk / 1000000000)) GB"
        return 0
    fi
    phase "save-$shape" 200 "$need_save" "$python" "$work/torch_bench.py" --shape "$shape" --mode save --folder "$folder" || return 0
    phase "mezo-$shape" 200 "$need_ours" "$work/mezo.sh" verify --bench "$folder" --dtype bf16 --batch "$batch" --length "$length" \
        --steps "$steps" --json
}

bench_torch() {
    local shape=$1 mode=$2 need=$3
    phase "torch-$mode-$shape" 150 "$need" "$python" "$work/torch_bench.py" --shape "$shape" --mode "$mode" \
        --batch "$batch" --length "$length" --steps "$steps"
}

# The most needed first, so that a short budget drops the least: every OPT-1.3B figure (ours, the paper's PyTorch
# step, backprop + AdamW's memory), then OPT-13B's (the 13B checkpoint is deleted once we have run on it), and our
# float32 z arithmetic last.
if [ -z "$python" ] || ! "$python" -c 'import torch, transformers' 2>/dev/null; then
    log "benchmarks: skipped, python3 with torch and transformers is not available"
else
    bench_ours opt-1.3b 40 40 4000000000
    bench_torch opt-1.3b mezo 40
    bench_torch opt-1.3b adamw 40
    if [ -d "$work/opt-1.3b" ]; then
        phase "memory-opt-1.3b" 240 90 "$work/mezo.sh" bench memory --backend cuda --model "$work/opt-1.3b" --dtype bf16 \
            --batch "$batch" --length "$length" --steps 1 --json
    fi
    bench_torch opt-1.3b sgd 40
    bench_torch opt-1.3b adamw-ckpt 40
    bench_ours opt-13b 120 90 28000000000
    if [ -d "$work/opt-13b" ]; then
        phase "stream-opt-13b" 240 150 "$work/mezo.sh" bench step --backend cuda --model "$work/opt-13b" --dtype bf16 \
            --batch "$batch" --length "$length" --steps "$steps" --max-device-memory 12GiB
    fi
    rm -rf "$work/opt-13b"
    bench_torch opt-13b mezo 60
    if [ -d "$work/opt-1.3b" ]; then
        plan_ours fast-z-opt-1.3b opt-1.3b env MEZO_CUDA_NOISE=fast
        phase "mezo-fast-z-opt-1.3b" 120 40 env MEZO_CUDA_NOISE=fast "$work/mezo.sh" verify --bench "$work/opt-1.3b" --dtype bf16 \
            --batch "$batch" --length "$length" --steps "$steps" --json
    fi
    rm -rf "$work/opt-1.3b"
fi

# ---- results ----
"${python:-python3}" - "$out" <<'PY' || log "results: could not be assembled (no python3?)"
import glob, json, os, re, sys

out = sys.argv[1]


def load(name):
    try:
        with open(os.path.join(out, name + ".out")) as f:
            text = f.read().strip()
        return json.loads(text[text.index("{"):]) if text else None
    except (OSError, ValueError):
        return None


def roofline_seconds(name):
    """The step's roofline time from `mezo bench step --plan`'s output, or None."""
    try:
        with open(os.path.join(out, name + ".out")) as f:
            m = re.search(r"^roofline step time: ([0-9.]+) ms", f.read(), re.MULTILINE)
        return float(m.group(1)) / 1e3 if m else None
    except OSError:
        return None


def status(name):
    try:
        with open(os.path.join(out, name + ".status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"phase": name, "status": "not run"}


verify = load("verify")
results = {"environment": open(os.path.join(out, "environment.txt")).read() if os.path.exists(os.path.join(out, "environment.txt")) else "",
           "phases": [status(os.path.basename(p)[:-len(".status.json")]) for p in sorted(glob.glob(os.path.join(out, "*.status.json")))],
           "verify": None if verify is None else {k: verify.get(k) for k in ("device", "checks", "failures")},
           "verify_failures": [] if verify is None else [r for r in verify.get("results", []) if not r.get("passed")],
           "shapes": {}}
lines = ["# gpu-check results", "", "```", results["environment"].strip(), "```", ""]
if verify is not None:
    lines += [f"**mezo verify --backend cuda**: {verify['checks']} checks, {verify['failures']} failed ({verify.get('device', '')})", ""]
    for r in results["verify_failures"]:
        lines.append(f"- FAIL {r['configuration']}: {r['operation']} {r['case']}: {r.get('detail', '')}")
else:
    lines += [f"**mezo verify --backend cuda**: {status('verify')['status']} (see verify.err)", ""]

lines += ["", "| shape | engine | forward tok/s | MeZO step (s) | roofline step (s), an estimate | measured / roofline | step / 2 forwards | "
          "peak memory (GiB) | train / inference memory |",
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
gib = 2 ** 30
for shape in ("opt-1.3b", "opt-13b"):
    ours, fast, torch_mezo, adamw = load(f"mezo-{shape}"), load(f"mezo-fast-z-{shape}"), load(f"torch-mezo-{shape}"), load(f"torch-adamw-{shape}")
    roofline, fast_roofline = roofline_seconds(f"plan-{shape}"), roofline_seconds(f"plan-fast-z-{shape}")
    entry = {"mezo_engine": ours, "mezo_engine_fast_z": fast, "pytorch_mezo": torch_mezo, "pytorch_adamw": adamw,
             "roofline_step_seconds": roofline, "roofline_step_seconds_fast_z": fast_roofline, "ratios": {}}
    for name, r, limit in (("MeZO.Engine (exact z)", ours, roofline), ("MeZO.Engine (fast z)", fast, fast_roofline)):
        if r:
            versus = f"{limit:.3f} | {r['step_seconds'] / limit:.2f}" if limit else " | "
            lines.append(f"| {shape} | {name} | {r['tokens_per_second']:.0f} | {r['step_seconds']:.3f} | {versus} | {r['step_over_two_forwards']:.3f} | "
                         f"{r['training_peak_bytes'] / gib:.2f} | {r['training_over_inference_memory']:.3f} |")
    if torch_mezo and torch_mezo.get("status") == "ok":
        t = torch_mezo
        lines.append(f"| {shape} | PyTorch MeZO (paper's step) | {t['tokens_per_second']:.0f} | {t['step_seconds']:.3f} | | | "
                     f"{t['step_seconds'] / (2 * t['forward_seconds']):.3f} | {t['training_peak_bytes'] / gib:.2f} | "
                     f"{t['training_peak_bytes'] / t['inference_peak_bytes']:.3f} |")
    if adamw:
        if adamw.get("status") == "ok":
            lines.append(f"| {shape} | PyTorch backprop + AdamW | | {adamw['step_seconds']:.3f} | | | | {adamw['training_peak_bytes'] / gib:.2f} | |")
        else:
            lines.append(f"| {shape} | PyTorch backprop + AdamW | {adamw.get('status')}: {adamw.get('detail', '')} | | | | | | |")
    ratios = entry["ratios"]
    if ours and torch_mezo and torch_mezo.get("status") == "ok":
        ratios["step_vs_pytorch_mezo"] = ours["step_seconds"] / torch_mezo["step_seconds"]
    if ours and roofline:
        ratios["step_vs_roofline"] = ours["step_seconds"] / roofline
    if ours:
        ratios["step_vs_two_forwards"] = ours["step_over_two_forwards"]
        ratios["training_vs_inference_memory"] = ours["training_over_inference_memory"]
    if ours and adamw and adamw.get("status") == "ok":
        ratios["adamw_memory_vs_ours"] = adamw["training_peak_bytes"] / ours["training_peak_bytes"]
    results["shapes"][shape] = entry

memory = load("memory-opt-1.3b")
torch_memory = {"MeZO": load("torch-mezo-opt-1.3b"), "backprop, SGD": load("torch-sgd-opt-1.3b"),
                "backprop, AdamW": load("torch-adamw-opt-1.3b"), "backprop, AdamW, checkpointed": load("torch-adamw-ckpt-opt-1.3b")}
results["memory_opt_1.3b"] = {"mezo_engine": memory, "pytorch": torch_memory}
if memory is not None:
    lines += ["", f"Memory, OPT-1.3B bf16 weights, batch {memory['batch']} × {memory['length']} tokens (GiB; ours: engine bytes, "
              "PyTorch: max_memory_allocated):", "",
              "| method | weights | gradients | optimizer state | activations | ours, peak | PyTorch, peak |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in memory["methods"]:
        t = torch_memory.get(m["method"])
        theirs = f"{t['training_peak_bytes'] / gib:.2f}" if t and t.get("status") == "ok" else (t or {}).get("status", "")
        lines.append(f"| {m['method']} | {m['weights'] / gib:.2f} | {m['gradients'] / gib:.2f} | {m['optimizer_state'] / gib:.2f} | "
                     f"{m['activations'] / gib:.2f} | {m['engine_peak'] / gib:.2f} | {theirs} |")

stream_path = os.path.join(out, "stream-opt-13b.out")
if os.path.exists(stream_path):
    stream = open(stream_path).read().strip()
    results["stream_opt_13b"] = stream
    lines += ["", "Streaming, OPT-13B bf16 under --max-device-memory 12GiB (`mezo bench step`, measured here):", "", "```", stream, "```"]

targets = [("step_vs_pytorch_mezo", "MeZO step vs PyTorch MeZO step", "≤ 0.6", lambda v: v <= 0.6),
           ("step_vs_two_forwards", "MeZO step vs two forward passes", "≤ 1.15", lambda v: v <= 1.15),
           ("training_vs_inference_memory", "training vs inference peak memory", "≤ 1.05", lambda v: v <= 1.05),
           ("adamw_memory_vs_ours", "PyTorch backprop+AdamW memory vs ours (OPT-1.3B)", "≥ 10", lambda v: v >= 10)]
lines += ["", "| target | shape | measured | goal | met |", "| --- | --- | ---: | --- | --- |"]
for key, text, goal, met in targets:
    for shape, entry in results["shapes"].items():
        if key in entry["ratios"]:
            v = entry["ratios"][key]
            lines.append(f"| {text} | {shape} | {v:.3f} | {goal} | {'yes' if met(v) else 'no'} |")
lines += ["", "Phases: " + ", ".join(f"{p['phase']} {p['status']}" for p in results["phases"])]
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
log "done in $((SECONDS - start))s; results in $out/results.md and $out/results.json"
grep -q '"status": "ok"' "$out/verify.status.json" 2>/dev/null # the exit code says whether the GPU agreed with the CPU
