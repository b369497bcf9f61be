using MeZO.Engine;
using MeZO.Trainer.Default;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>`mezo train`: fine-tune with MeZO (DESIGN §5); without --model, the bundled default.</summary>
public sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "fine-tune a model on a task with MeZO, or with backprop to compare (no --model: the bundled tiny default)";
    public string Help => """
        mezo train [--model DIR --task NAME --data PATH] --out RUN [options]

          --model DIR              Hugging Face model folder; omitted: a tiny OPT model and sentiment task generated
                                   on the spot (cached in ~/.cache/mezo), which MeZO learns in well under a minute
                                   with defaults of its own (512/128/256 examples, 4000 steps, constant lr 5e-4,
                                   validation and checkpoints every 1000 steps; with --peft lora 8000 steps at 2e-3,
                                   with --peft prefix 20000 steps at 0.5, ε 0.1; with --optimizer adamw 500 steps
                                   at 1e-3, sgd 500 at 0.3, validation every 100); options still override them
          --task NAME              sst2 rte cb boolq wsc wic multirc copa record squad drop, or jsonl: your own data
          --data PATH              folder of the task's files in their official format; for jsonl, train.jsonl,
                                   [validation.jsonl,] test.jsonl (or .parquet) of {"prompt","candidates","label"},
                                   {"prompt","completion"} or {"text"} records (README, "Your own data")
          --out RUN                run folder: run.json, trajectory.jsonl, metrics.jsonl, checkpoint/, best/, model/, plots
          --resume                 continue the run in --out with the settings in its run.json; options given beside it
                                   must equal the run's, except --steps (a constant-rate run may be extended),
                                   --log-every and --backend
          --train-examples N       default 1000      --eval-examples N   default 500 (0: no validation)
          --test-examples N        default 1000 (0: no test evaluation)
          --steps N                default 20000     --batch-size N      default 16
          --micro-batch-size N     examples per forward call (default: the batch size)
          --lr X                   default 1e-6      --lr-schedule constant|linear (default constant)
          --eps X                  default 1e-3      --weight-decay X    default 0 (never on biases and norms)
          --samples N              perturbations per step (n-SPSA), default 1
          --seed N                 run seed: data order and perturbations, default 42
          --eval-every N           default 4000      --checkpoint-every N  default 1000     --log-every N  default 10
          --trainable REGEX        train only parameters whose Hugging Face name matches
          --peft lora|prefix       train an adapter instead, the base frozen; model/, best/ and checkpoint/ then hold
                                   PEFT adapter folders (apply with --adapter, or mezo merge)
          --lora-r N               LoRA rank, default 8       --lora-alpha X   default 16 (the bypass is scaled by α/r)
          --lora-targets LIST      modules LoRA adapts, default q_proj,v_proj (GPT-2: q/k/v_proj name its fused c_attn;
                                   any projection name, e.g. q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)
          --prefix-tokens N        prefix tuning's virtual tokens per layer, default 5
          --objective loss|accuracy|f1   what to minimise: the task loss or the negative metric (default loss)
          --optimizer zo-sgd|sgd|adamw   MeZO's ZO-SGD (default), or backprop with torch.optim's SGD (no momentum) or
                                   AdamW: the paper's FT baseline on the same engine, data and run folder (the task
                                   loss only; default lr: adamw 5e-5, sgd 1e-3; with --peft only the adapter trains).
                                   16-bit weights keep float32 master copies; checkpoint/ then also holds
                                   optimizer.safetensors for --resume
          --adam-beta1 X  default 0.9     --adam-beta2 X  default 0.999     --adam-epsilon X  default 1e-8
          --max-grad-norm X        clip the gradient's global norm (sgd, adamw), default 1 (0: no clipping)
          --gradient-checkpointing recompute each layer's activations in the backward pass instead of keeping them
          --max-length N           token budget per sequence (default: the model's positions)
          --dtype f32|f16|bf16     weight storage dtype (default: the checkpoint's)
          --backend cpu|cuda       default cpu
        """;

    private static readonly string[] ValueOptions =
    [
        "model", "task", "data", "out", "train-examples", "eval-examples", "test-examples", "steps", "batch-size",
        "micro-batch-size", "lr", "lr-schedule", "eps", "weight-decay", "samples", "seed", "eval-every", "checkpoint-every",
        "log-every", "trainable", "objective", "max-length", "dtype", "backend", "peft", "lora-r", "lora-alpha", "lora-targets",
        "prefix-tokens", "optimizer", "adam-beta1", "adam-beta2", "adam-epsilon", "max-grad-norm",
    ];

    /// <summary>The option that sets each <see cref="TrainSettings"/> property, so messages name what the user typed.</summary>
    public static readonly IReadOnlyDictionary<string, string> OptionOf = new Dictionary<string, string>
    {
        [nameof(TrainSettings.Model)] = "--model", [nameof(TrainSettings.Task)] = "--task", [nameof(TrainSettings.Data)] = "--data",
        [nameof(TrainSettings.TrainExamples)] = "--train-examples", [nameof(TrainSettings.EvalExamples)] = "--eval-examples",
        [nameof(TrainSettings.TestExamples)] = "--test-examples", [nameof(TrainSettings.Steps)] = "--steps",
        [nameof(TrainSettings.BatchSize)] = "--batch-size", [nameof(TrainSettings.MicroBatchSize)] = "--micro-batch-size",
        [nameof(TrainSettings.LearningRate)] = "--lr", [nameof(TrainSettings.Schedule)] = "--lr-schedule",
        [nameof(TrainSettings.Eps)] = "--eps", [nameof(TrainSettings.WeightDecay)] = "--weight-decay",
        [nameof(TrainSettings.Samples)] = "--samples", [nameof(TrainSettings.Seed)] = "--seed",
        [nameof(TrainSettings.EvalEvery)] = "--eval-every", [nameof(TrainSettings.CheckpointEvery)] = "--checkpoint-every",
        [nameof(TrainSettings.LogEvery)] = "--log-every", [nameof(TrainSettings.Trainable)] = "--trainable",
        [nameof(TrainSettings.Objective)] = "--objective", [nameof(TrainSettings.Storage)] = "--dtype",
        [nameof(TrainSettings.Backend)] = "--backend", [nameof(TrainSettings.MaxLength)] = "--max-length",
        [nameof(TrainSettings.Peft)] = "--peft", [nameof(TrainSettings.LoraRank)] = "--lora-r", [nameof(TrainSettings.LoraAlpha)] = "--lora-alpha",
        [nameof(TrainSettings.LoraTargets)] = "--lora-targets", [nameof(TrainSettings.PrefixTokens)] = "--prefix-tokens",
        [nameof(TrainSettings.Optimizer)] = "--optimizer", [nameof(TrainSettings.AdamBeta1)] = "--adam-beta1",
        [nameof(TrainSettings.AdamBeta2)] = "--adam-beta2", [nameof(TrainSettings.AdamEpsilon)] = "--adam-epsilon",
        [nameof(TrainSettings.MaxGradNorm)] = "--max-grad-norm", [nameof(TrainSettings.GradientCheckpointing)] = "--gradient-checkpointing",
    };

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string>(ValueOptions), new HashSet<string> { "resume", "gradient-checkpointing" });
        string outDirectory = cl.RequiredString("out");
        bool resume = cl.Has("resume");
        var settings = Settings(cl, output, resume ? new RunFolder(outDirectory).ManifestToResume().Settings : null);
        var run = new TrainingRun(settings, outDirectory, resume, output, new ConsoleProgress());
        TrainResult result;
        using (InterruptNotice.Register(run, outDirectory))
        {
            try
            {
                result = run.Run();
            }
            catch (SettingsMismatchException e)
            {
                throw new InvalidInputException(e.Describe(setting => OptionOf[setting]), e);
            }
        }

        output.WriteLine();
        output.WriteLine($"trained {result.Steps} steps in {result.Elapsed:hh\\:mm\\:ss}, {Units.PeakMemory(result.PeakBytes)}");
        if (result.ValidationBefore is not null)
            output.WriteLine($"validation {result.ValidationBefore.Metric}: before {result.ValidationBefore.Value:F4}" +
                             (result.ValidationBest is not null ? $", best {result.ValidationBest.Value:F4} at step {result.BestStep}" : ""));
        if (result.Test is not null)
            output.WriteLine($"test {result.Test.Metric}: before {result.TestBefore?.Value.ToString("F4") ?? "n/a"}, after {result.Test.Value:F4}" +
                             (result.Test.ExactMatch is double em ? $" (exact match {em:F4})" : "") +
                             (result.Test.Perplexity is double perplexity ? $" per token (perplexity {perplexity:F4})" : ""));
        output.WriteLine($"run folder: {Path.GetFullPath(outDirectory)}");
        return 0;
    }

    /// <summary>
    /// The options given over <paramref name="recorded"/> (a resumed run's settings), or over the defaults: the paper's
    /// with --model, the bundled default's without.
    /// </summary>
    internal static TrainSettings Settings(CommandLine cl, TextWriter output, TrainSettings? recorded = null)
    {
        string? model = cl.String("model");
        string task, data;
        var defaults = recorded ?? new TrainSettings { Model = "", Task = "", Data = "" };
        if (recorded is not null)
        {
            model ??= recorded.Model;
            task = cl.String("task") ?? recorded.Task;
            data = cl.String("data") ?? recorded.Data;
        }
        else if (model is null)
        {
            if (cl.Has("task") || cl.Has("data")) throw cl.Error("--task and --data need --model");
            (model, data) = BundledDefault.Prepare();
            task = BundledDefault.Task;
            output.WriteLine($"no --model: training the bundled default (tiny OPT, synthetic sentiment task) from {Path.GetDirectoryName(model)}");
            defaults = BundledDefault.Settings(model, data, PeftOption.Of(cl), OptimizerOf(cl) ?? OptimizerKind.ZoSgd);
        }
        else
        {
            task = cl.RequiredString("task");
            data = cl.RequiredString("data");
        }
        int batch = cl.Int("batch-size", defaults.BatchSize);
        var objective = cl.String("objective")?.ToLowerInvariant() switch
        {
            null => defaults.Objective,
            "loss" => Objective.Loss,
            "accuracy" => Objective.Accuracy,
            "f1" => Objective.F1,
            var other => throw cl.Error($"--objective '{other}' is unknown (loss, accuracy, f1)"),
        };
        var peft = PeftOption.Of(cl) ?? defaults.Peft;
        foreach (string option in new[] { "lora-r", "lora-alpha", "lora-targets" })
            if (cl.Has(option) && peft != PeftKind.Lora) throw cl.Error($"--{option} applies only with --peft lora");
        if (cl.Has("prefix-tokens") && peft != PeftKind.Prefix) throw cl.Error("--prefix-tokens applies only with --peft prefix");
        var optimizer = OptimizerOf(cl) ?? defaults.Optimizer;
        if (optimizer == OptimizerKind.ZoSgd)
            foreach (string option in new[] { "adam-beta1", "adam-beta2", "adam-epsilon", "max-grad-norm", "gradient-checkpointing" })
                if (cl.Has(option)) throw cl.Error($"--{option} applies to backprop's optimizers (--optimizer sgd or adamw), not MeZO's ZO-SGD");
        // MeZO's rates are far below what backprop takes; a first-order run without --lr starts from its own.
        double learningRate = recorded is null && optimizer != defaults.Optimizer && optimizer != OptimizerKind.ZoSgd
            ? optimizer == OptimizerKind.AdamW ? 5e-5 : 1e-3
            : defaults.LearningRate;
        return defaults with
        {
            Model = model,
            Task = task,
            Data = data,
            TrainExamples = NonNegative(cl, "train-examples", defaults.TrainExamples),
            EvalExamples = NonNegative(cl, "eval-examples", defaults.EvalExamples),
            TestExamples = NonNegative(cl, "test-examples", defaults.TestExamples),
            Steps = cl.Long("steps", defaults.Steps),
            BatchSize = batch,
            MicroBatchSize = cl.Int("micro-batch-size", cl.Has("batch-size") && recorded is null ? batch : defaults.MicroBatchSize),
            LearningRate = cl.Double("lr", learningRate),
            Schedule = cl.Has("lr-schedule") ? LearningRateSchedule.Parse(cl.String("lr-schedule")) : defaults.Schedule,
            Eps = cl.Double("eps", defaults.Eps),
            WeightDecay = cl.Double("weight-decay", defaults.WeightDecay),
            Samples = cl.Int("samples", defaults.Samples),
            Seed = cl.ULong("seed", defaults.Seed),
            EvalEvery = cl.Long("eval-every", defaults.EvalEvery),
            CheckpointEvery = cl.Long("checkpoint-every", defaults.CheckpointEvery),
            LogEvery = cl.Long("log-every", defaults.LogEvery),
            Trainable = cl.String("trainable") ?? defaults.Trainable,
            Objective = objective,
            MaxLength = cl.Has("max-length") ? cl.Int("max-length", 0) : defaults.MaxLength,
            Storage = cl.Has("dtype") ? ModelOptions.StorageType(cl) : defaults.Storage,
            Backend = cl.String("backend") ?? defaults.Backend,
            Peft = peft,
            LoraRank = cl.Int("lora-r", defaults.LoraRank),
            LoraAlpha = cl.Double("lora-alpha", defaults.LoraAlpha),
            LoraTargets = cl.String("lora-targets") ?? defaults.LoraTargets,
            PrefixTokens = cl.Int("prefix-tokens", defaults.PrefixTokens),
            Optimizer = optimizer,
            AdamBeta1 = cl.Double("adam-beta1", defaults.AdamBeta1),
            AdamBeta2 = cl.Double("adam-beta2", defaults.AdamBeta2),
            AdamEpsilon = cl.Double("adam-epsilon", defaults.AdamEpsilon),
            MaxGradNorm = cl.Double("max-grad-norm", defaults.MaxGradNorm),
            GradientCheckpointing = cl.Has("gradient-checkpointing") || defaults.GradientCheckpointing,
        };
    }

    private static OptimizerKind? OptimizerOf(CommandLine cl) => cl.String("optimizer")?.ToLowerInvariant() switch
    {
        null => null,
        "zo-sgd" => OptimizerKind.ZoSgd,
        "sgd" => OptimizerKind.Sgd,
        "adamw" => OptimizerKind.AdamW,
        var other => throw cl.Error($"--optimizer '{other}' is unknown (zo-sgd, sgd, adamw)"),
    };

    private static int NonNegative(CommandLine cl, string name, int fallback)
    {
        int v = cl.Int(name, fallback);
        return v >= 0 ? v : throw cl.Error($"--{name} must not be negative");
    }
}
