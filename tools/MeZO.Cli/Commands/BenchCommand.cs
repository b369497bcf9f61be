using MeZO.Cli.Bench;
using MeZO.Engine;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Default;

using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>
/// `mezo bench`: throughput and memory, measured side by side in one run so the ratios mean something on a shared
/// machine. Without --model, an OPT-125m-shaped checkpoint is generated for the run and deleted afterwards.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary => "forward tokens/s and GFLOP/s against the machine's peak; a MeZO step vs two forwards; memory of MeZO vs backprop";
    public string Help => """
        mezo bench forward [--model DIR] [--batch B] [--length T] [--dtype f32|bf16] [--repeat N]
        mezo bench step    [--model DIR] [--batch B] [--length T] [--steps N] [--dtype f32|bf16] [--backend cpu|cuda]
        mezo bench memory  [--model DIR] [--batch B] [--length T] [--steps N] [--dtype f32|bf16] [--peft lora|prefix] [--backend cpu|cuda] [--json]
        mezo bench estimator [--model DIR] [--batch B] [--length T] [--seeds N] [--dtype f32|bf16] [--json]

          forward      forward-pass tokens/s (every position scored), then each linear layer's shape as a matrix
                       product in GFLOP/s and % of the FMA peak measured beside it (default batch 1 × 256 tokens)
          step         one MeZO step (±εz in one lockstep sweep, then the update) against two forward passes of the
                       same batch, and one update pass over every weight; --steps N rounds interleave the three,
                       medians reported (default batch 4 × 128 tokens, 5 rounds)
          memory       peak memory of each way to train, measured side by side on one batch of random tokens (default
                       16 × 128, every token after the first scored): evaluation, MeZO, backprop with SGD, AdamW and
                       AdamW with gradient checkpointing, each over --steps N steps (default 2) on a fresh backend:
                       engine bytes by category (weights, gradients, optimizer state, activations), the process's
                       peak RSS, and `mezo inspect`'s estimate against the measurement; --peft adds MeZO training the
                       paper's LoRA or prefix (the base frozen); --json for machines
          estimator    MeZO's projected gradient g = (L+ − L−)/2ε against the exact z·∇L of the backward pass, as
                       |g − z·∇L|/|z·∇L| for ε = 1e-1 … 1e-6, median over seeds 1…N, in F32 and in BF16 storage (one of
                       them with --dtype); default model: the bundled default (a tiny OPT), batch 4 × 32 random tokens,
                       8 seeds; --json prints every seed's z·∇L and g
          --model DIR  measure this Hugging Face model folder instead
          --dtype      weight dtype of the generated checkpoint (default f32)
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args,
            new HashSet<string> { "batch", "length", "dtype", "repeat", "model", "task", "data", "steps", "backend", "peft", "seeds" },
            new HashSet<string> { "json" });
        string what = cl.Positional.Count == 1 ? cl.Positional[0] : throw cl.Error("say what to benchmark: mezo bench forward|step|memory|estimator");
        if (what is not ("step" or "memory") && cl.Has("backend")) throw cl.Error($"--backend is for 'mezo bench step' and 'memory'; bench {what} measures the CPU backend");
        if (what != "estimator" && cl.Has("seeds")) throw cl.Error($"--seeds is for 'mezo bench estimator', not bench {what}");
        if (what is not ("estimator" or "memory") && cl.Has("json")) throw cl.Error($"--json is for 'mezo bench estimator' and 'memory', not bench {what}");
        if (cl.Has("task") || cl.Has("data")) throw cl.Error("--task and --data are not bench options: the benchmarks run on random tokens");
        var dtype = ModelOptions.StorageType(cl) ?? DType.F32;
        // Every option is checked before an OPT-125m-sized checkpoint is written for a mistyped one.
        Action<string> bench = what switch
        {
            "forward" => Forward(cl, output),
            "step" => Step(cl, output),
            "memory" => Memory(cl, output),
            "estimator" => Estimator(cl, output),
            _ => throw cl.Error($"unknown benchmark '{what}' (forward, step, memory, estimator)"),
        };
        // The backward pass keeps every layer's activations: the estimator defaults to the bundled tiny OPT, not OPT-125m.
        string? model = cl.String("model") ?? (what == "estimator" ? BundledDefault.Prepare().Model : null);
        using var synthetic = model is null ? new SyntheticOpt125m(dtype, output) : null;
        bench(model ?? synthetic!.Directory);
        return 0;
    }

    private static Action<string> Forward(CommandLine cl, TextWriter output)
    {
        int batch = cl.Int("batch", 1), length = cl.Int("length", 256), repeat = cl.Int("repeat", 5);
        if (batch <= 0 || length <= 0 || repeat <= 0) throw cl.Error("--batch, --length and --repeat must be positive");
        return model => ForwardBench.Run(model, batch, length, repeat, output);
    }

    private static Action<string> Step(CommandLine cl, TextWriter output)
    {
        int batch = cl.Int("batch", 4), length = cl.Int("length", 128), steps = cl.Int("steps", 5);
        if (batch <= 0 || length < 2 || steps <= 0) throw cl.Error("--batch and --steps must be positive and --length at least 2");
        string backend = BackendFactory.Validate(cl.String("backend"));
        // The generated checkpoint is already in --dtype; a given model is converted to it on load.
        DType? storage = cl.Has("model") ? ModelOptions.StorageType(cl) : null;
        return model => StepBench.Run(model, backend, storage, batch, length, steps, output);
    }

    private static Action<string> Estimator(CommandLine cl, TextWriter output)
    {
        int batch = cl.Int("batch", 4), length = cl.Int("length", 32), seeds = cl.Int("seeds", 8);
        if (batch <= 0 || length < 2 || seeds <= 0) throw cl.Error("--batch and --seeds must be positive and --length at least 2");
        DType[] storages = ModelOptions.StorageType(cl) is { } one ? [one] : [DType.F32, DType.BF16];
        bool json = cl.Has("json");
        return model => EstimatorBench.Run(model, storages, batch, length, seeds, json, output);
    }

    private static Action<string> Memory(CommandLine cl, TextWriter output)
    {
        int batch = cl.Int("batch", 16), length = cl.Int("length", 128), steps = cl.Int("steps", 2);
        if (batch <= 0 || steps <= 0 || length < 2) throw cl.Error("--batch and --steps must be positive and --length at least 2");
        PeftKind? peft = PeftOption.Of(cl);
        bool json = cl.Has("json");
        DType? storage = cl.Has("model") ? ModelOptions.StorageType(cl) : null;
        string backend = BackendFactory.Validate(cl.String("backend"));
        return model => MemoryBench.Run(model, backend, storage, batch, length, steps, peft, json, output);
    }
}
