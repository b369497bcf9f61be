using System.CommandLine;
using MeZO.Cli.Bench;
using MeZO.Engine;
using MeZO.Engine.Backends.Cuda.Planning;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Default;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>
/// `mezo bench`: throughput and memory, measured side by side in one run so the ratios mean something on a shared
/// machine. Without --model, an OPT-125m-shaped checkpoint is generated for the run and deleted afterwards.
/// </summary>
public sealed class BenchCommand : MezoCommand
{
    private static readonly string[] Benchmarks = ["forward", "step", "memory", "estimator"];

    private readonly Argument<string?> _what = new("BENCHMARK")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description =
            "forward: forward-pass tokens/s (every position scored), then each linear layer's shape as a matrix product in " +
            "GFLOP/s and % of the FMA peak measured beside it (default batch 1 × 256 tokens)\n" +
            "step: one MeZO step (±εz in one lockstep sweep, then the update) against two forward passes of the same batch, " +
            "and one update pass over every weight; --steps N rounds interleave the three, medians reported (default batch 4 × " +
            "128 tokens, 5 rounds); with --max-device-memory, the step resident against the step streamed under that budget " +
            "(layers copied in from host memory as each runs), rounds alternating; with --backend cuda --plan, no GPU is " +
            "used: the same step is recorded launch by launch and printed with each kernel's and cuBLASLt product's bytes, " +
            "FLOPs and roofline time on --gpu's data-sheet limits (an estimate; --model may hold only config.json)\n" +
            "memory: peak memory of each way to train, measured side by side on one batch of random tokens (default 16 × 128, " +
            "every token after the first scored): evaluation, MeZO, backprop with SGD, AdamW and AdamW with gradient " +
            "checkpointing, each over --steps N steps (default 2) on a fresh backend: engine bytes by category (weights, " +
            "gradients, optimizer state, activations), the process's peak RSS, and `mezo inspect`'s estimate against the " +
            "measurement; --peft adds MeZO training the paper's LoRA or prefix (the base frozen); --json for machines\n" +
            "estimator: MeZO's projected gradient g = (L+ − L−)/2ε against the exact z·∇L of the backward pass, as " +
            "|g − z·∇L|/|z·∇L| for ε = 1e-1 … 1e-6, median over seeds 1…N, in F32 and in BF16 storage (one of them with " +
            "--dtype); default model: the bundled default (a tiny OPT), batch 4 × 32 random tokens, 8 seeds; --json prints " +
            "every seed's z·∇L and g",
    };
    private readonly Option<string?> _model = ModelOptions.ModelOption("measure this Hugging Face model folder instead");
    private readonly Option<string?> _revision = ModelOptions.RevisionOption();
    private readonly Option<int?> _batchSize = CommonOptions.BatchSize("sequences per batch (default: the benchmark's, above)");
    private readonly Option<int?> _length = CommonOptions.Length("tokens per sequence (default: the benchmark's, above)");
    private readonly Option<DType?> _dtype = ModelOptions.DtypeOption("weight dtype of the generated checkpoint, or a --model converted on load (default f32)");
    private readonly Option<DType?> _compute = ModelOptions.ComputeOption();
    private readonly Option<int?> _repeat = OptionKinds.Int("--repeat", "N", "forward: timed repetitions (default 5)");
    private readonly Option<int?> _steps = OptionKinds.Int("--steps", "N", "step: rounds (default 5); memory: steps per way to train (default 2)");
    private readonly Option<PeftKind?> _peft = PeftOption.Create("memory: also measure MeZO training this adapter");
    private readonly Option<string?> _backend = ModelOptions.BackendOption("step and memory: the backend measured (default cpu)");
    private readonly Option<long?> _maxDeviceMemory = ModelOptions.MaxDeviceMemoryOption();
    private readonly Option<int?> _seeds = OptionKinds.Int("--seeds", "N", "estimator: seeds 1…N (default 8)");
    private readonly Option<bool> _json = CommonOptions.Json("estimator and memory: machine-readable output");
    private readonly Option<bool> _plan = OptionKinds.Flag("--plan",
        "step --backend cuda: record the step's launches without a GPU and print bytes, FLOPs and roofline time per launch, layer and " +
        "step (weights in --dtype, else config.json's torch_dtype)");
    private readonly Option<string?> _gpu = OptionKinds.Word("--gpu", "--plan: the GPU whose data-sheet limits the roofline uses (default h100)",
        GpuSpec.All.Select(g => g.Key).ToArray());
    // Not bench options; declared so that giving them says why, rather than "unknown option".
    private readonly Option<string?> _task = NotABenchOption("--task");
    private readonly Option<string?> _data = NotABenchOption("--data");

    public BenchCommand() : base("bench",
        "forward tokens/s and GFLOP/s against the machine's peak; a MeZO step vs two forwards; memory of MeZO vs backprop",
        "mezo bench forward [--model DIR] [--batch-size B] [--length T] [--dtype f32|bf16] [--repeat N]",
        "mezo bench step    [--model DIR] [--batch-size B] [--length T] [--steps N] [--dtype f32|bf16] [--compute f32|bf16] [--backend cpu|cuda] " +
        "[--max-device-memory BYTES]",
        "mezo bench step --backend cuda --plan [--gpu a100|h100|h200] [--model DIR] [--batch-size B] [--length T] [--dtype f32|bf16] [--compute f32|bf16]",
        "mezo bench memory  [--model DIR] [--batch-size B] [--length T] [--steps N] [--dtype f32|bf16] [--peft lora|prefix] [--backend cpu|cuda] [--json]",
        "mezo bench estimator [--model DIR] [--batch-size B] [--length T] [--seeds N] [--dtype f32|bf16] [--json]")
    {
        _what.CompletionSources.Add(Benchmarks);
        Add(_what);
        Option[] options = [_model, _revision, _batchSize, _length, _dtype, _compute, _repeat, _steps, _peft, _backend, _maxDeviceMemory, _seeds, _json, _plan, _gpu,
            _task, _data];
        foreach (var option in options) Add(option);
        Notes = "Without --model, an OPT-125m-shaped checkpoint is generated for the run (forward, step, memory) and deleted afterwards.";
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        string what = result.GetValue(_what) ?? throw Error("say what to benchmark: mezo bench forward|step|memory|estimator");
        if (what is not ("step" or "memory") && result.Has(_backend)) throw Error($"--backend is for 'mezo bench step' and 'memory'; bench {what} measures the CPU backend");
        if (what != "estimator" && result.Has(_seeds)) throw Error($"--seeds is for 'mezo bench estimator', not bench {what}");
        if (what is not ("estimator" or "memory") && result.Has(_json)) throw Error($"--json is for 'mezo bench estimator' and 'memory', not bench {what}");
        if (what != "forward" && result.Has(_repeat)) throw Error($"--repeat is for 'mezo bench forward', not bench {what}");
        if (what is not ("step" or "memory") && result.Has(_steps)) throw Error($"--steps is for 'mezo bench step' and 'memory', not bench {what}");
        if (what != "step" && result.Has(_maxDeviceMemory)) throw Error($"--max-device-memory is for 'mezo bench step', not bench {what}");
        if (what != "step" && result.Has(_compute)) throw Error($"--compute is for 'mezo bench step', not bench {what}");
        if (what != "memory" && result.Has(_peft)) throw Error($"--peft is for 'mezo bench memory', not bench {what}");
        if (result.Has(_task) || result.Has(_data)) throw Error("--task and --data are not bench options: the benchmarks run on random tokens");
        bool plan = result.GetValue(_plan);
        if (plan && what != "step") throw Error($"--plan is for 'mezo bench step', not bench {what}");
        if (result.Has(_gpu) && !plan) throw Error("--gpu is for --plan: a measured step runs on the GPU that is there");
        var dtype = result.GetValue(_dtype) ?? DType.F32;
        // Every option is checked before an OPT-125m-sized checkpoint is written for a mistyped one.
        Action<string> bench = what switch
        {
            "forward" => Forward(result, output),
            "step" => Step(result, output),
            "memory" => Memory(result, output),
            "estimator" => Estimator(result, output),
            _ => throw Error($"unknown benchmark '{what}' ({string.Join(", ", Benchmarks)})"),
        };
        // The backward pass keeps every layer's activations: the estimator defaults to the bundled tiny OPT, not OPT-125m.
        string? model = ModelOptions.Resolve(result.GetValue(_model), result.GetValue(_revision))
                        ?? (what == "estimator" ? BundledDefault.Prepare().Model : null);
        using var synthetic = model is null ? new SyntheticOpt125m(dtype, output, configOnly: plan) : null;
        bench(model ?? synthetic!.Directory);
        return 0;
    }

    private static Option<string?> NotABenchOption(string name)
    {
        var option = OptionKinds.Text(name, "X", "");
        option.Hidden = true;
        return option;
    }

    private Action<string> Forward(ParseResult result, TextWriter output)
    {
        int batch = result.GetValue(_batchSize) ?? 1, length = result.GetValue(_length) ?? 256, repeat = result.GetValue(_repeat) ?? 5;
        if (batch <= 0 || length <= 0 || repeat <= 0) throw Error("--batch-size, --length and --repeat must be positive");
        return model => ForwardBench.Run(model, batch, length, repeat, output);
    }

    private Action<string> Step(ParseResult result, TextWriter output)
    {
        int batch = result.GetValue(_batchSize) ?? 4, length = result.GetValue(_length) ?? 128, steps = result.GetValue(_steps) ?? 5;
        if (batch <= 0 || length < 2 || steps <= 0) throw Error("--batch-size and --steps must be positive and --length at least 2");
        string backend = result.GetValue(_backend) ?? "cpu";
        if (result.GetValue(_plan)) return Plan(result, backend, batch, length, output);
        // The generated checkpoint is already in --dtype; a given model is converted to it on load.
        DType? storage = result.Has(_model) ? result.GetValue(_dtype) : null;
        if (result.GetValue(_maxDeviceMemory) is { } budget)
            return model => StreamBench.Run(model, backend, storage, result.GetValue(_compute), batch, length, steps, budget, output);
        return model => StepBench.Run(model, backend, storage, result.GetValue(_compute), batch, length, steps, output);
    }

    /// <summary>--plan: the CUDA backend's step recorded on a plan backend; nothing is timed, so nothing that times is taken.</summary>
    private Action<string> Plan(ParseResult result, string backend, int batch, int length, TextWriter output)
    {
        if (backend != "cuda") throw Error($"--plan plans the CUDA backend's step: add --backend cuda (not {backend})");
        if (result.Has(_steps)) throw Error("--steps sets timed rounds; a plan records one step");
        if (result.Has(_maxDeviceMemory)) throw Error("--plan plans the resident step; --max-device-memory streams layers from host memory");
        var gpu = GpuSpec.Find(result.GetValue(_gpu) ?? "h100")!; // --gpu accepts only the keys of GpuSpec.All
        DType? storage = result.GetValue(_dtype);
        return model => PlanBench.Run(model, gpu, storage, result.GetValue(_compute), batch, length, output);
    }

    private Action<string> Estimator(ParseResult result, TextWriter output)
    {
        int batch = result.GetValue(_batchSize) ?? 4, length = result.GetValue(_length) ?? 32, seeds = result.GetValue(_seeds) ?? 8;
        if (batch <= 0 || length < 2 || seeds <= 0) throw Error("--batch-size and --seeds must be positive and --length at least 2");
        DType[] storages = result.GetValue(_dtype) is { } one ? [one] : [DType.F32, DType.BF16];
        bool json = result.GetValue(_json);
        return model => EstimatorBench.Run(model, storages, batch, length, seeds, json, output);
    }

    private Action<string> Memory(ParseResult result, TextWriter output)
    {
        int batch = result.GetValue(_batchSize) ?? 16, length = result.GetValue(_length) ?? 128, steps = result.GetValue(_steps) ?? 2;
        if (batch <= 0 || steps <= 0 || length < 2) throw Error("--batch-size and --steps must be positive and --length at least 2");
        PeftKind? peft = result.GetValue(_peft);
        bool json = result.GetValue(_json);
        DType? storage = result.Has(_model) ? result.GetValue(_dtype) : null;
        string backend = result.GetValue(_backend) ?? "cpu";
        return model => MemoryBench.Run(model, backend, storage, batch, length, steps, peft, json, output);
    }
}
