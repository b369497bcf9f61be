using System.CommandLine;
using MeZO.Engine;
using MeZO.Engine.Distributed;
using MeZO.Engine.Distributed.Mpi;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Default;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>`mezo train`: fine-tune with MeZO (DESIGN §5); without --model, the bundled default.</summary>
public sealed class TrainCommand : MezoCommand
{
    private readonly Option<string?> _model = ModelOptions.ModelOption(
        "Hugging Face model folder; omitted: a tiny OPT model and sentiment task generated on the spot (cached in ~/.cache/mezo), " +
        "which MeZO learns in well under a minute with defaults of its own (512/128/256 examples, 4000 steps, constant lr 5e-4, " +
        "validation and checkpoints every 1000 steps; with --peft lora 8000 steps at 2e-3, with --peft prefix 20000 steps at 0.5, " +
        "ε 0.1; with --optimizer adamw 500 steps at 1e-3, sgd 500 at 0.3, validation every 100); options still override them");
    private readonly Option<string?> _revision = ModelOptions.RevisionOption();
    private readonly Option<string?> _task = OptionKinds.Text("--task", "NAME",
        "sst2 rte cb boolq wsc wic multirc copa record squad drop, or jsonl: your own data");
    private readonly Option<string?> _data = OptionKinds.Text("--data", "PATH",
        "folder of the task's files in their official format; for jsonl, train.jsonl, [validation.jsonl,] test.jsonl (or .parquet) " +
        "of {\"prompt\",\"candidates\",\"label\"}, {\"prompt\",\"completion\"} or {\"text\"} records (README, \"Your own data\")");
    private readonly Option<string?> _out = CommonOptions.Out("RUN",
        "run folder: run.json, trajectory.jsonl, metrics.jsonl, checkpoint/, best/, model/, plots", "--output_dir");
    private readonly Option<bool> _resume = OptionKinds.Flag("--resume",
        "continue the run in --out with the settings in its run.json; options given beside it must equal the run's, except " +
        "--steps (a constant-rate run may be extended), --log-every and --backend");
    private readonly Option<int?> _trainExamples = OptionKinds.Int("--train-examples", "N", "default 1000");
    private readonly Option<int?> _evalExamples = OptionKinds.Int("--eval-examples", "N", "default 500 (0: no validation)");
    private readonly Option<int?> _testExamples = OptionKinds.Int("--test-examples", "N", "default 1000 (0: no test evaluation)");
    private readonly Option<long?> _steps = OptionKinds.Long("--steps", "N", "default 20000", "--max_steps");
    private readonly Option<int?> _batchSize = CommonOptions.BatchSize("examples per step, default 16");
    private readonly Option<int?> _microBatchSize = OptionKinds.Int("--micro-batch-size", "N", "examples per forward call (default: the batch size)");
    // Hugging Face's per-device batch is what one forward call takes, and a step's batch is that times the accumulation
    // steps: the pair maps onto --micro-batch-size and --batch-size, not onto --batch-size alone.
    private readonly Option<int?> _perDeviceBatchSize = OptionKinds.Int("--per_device_train_batch_size", "N",
        "Hugging Face's spelling: examples per forward call (--micro-batch-size N) and per step N × --gradient_accumulation_steps " +
        "(--batch-size); instead of those two options");
    private readonly Option<int?> _accumulationSteps = OptionKinds.Int("--gradient_accumulation_steps", "K",
        "with --per_device_train_batch_size N: forward calls per step, the batch N × K (default 1)");
    private readonly Option<double?> _lr = OptionKinds.Double("--lr", "X", "learning rate, default 1e-6", "--learning_rate");
    private readonly Option<ScheduleKind?> _schedule = OptionKinds.Choice<ScheduleKind>("--lr-schedule", "default constant",
        ["constant", "linear"], text => text switch
        {
            "constant" => ScheduleKind.Constant,
            "linear" => ScheduleKind.Linear,
            _ => null,
        }, "--lr_scheduler_type");
    private readonly Option<double?> _eps = OptionKinds.Double("--eps", "X", "perturbation scale ε, default 1e-3");
    private readonly Option<double?> _weightDecay = OptionKinds.Double("--weight-decay", "X", "default 0 (never on biases and norms)", "--weight_decay");
    private readonly Option<int?> _samples = OptionKinds.Int("--samples", "N", "perturbations per step (n-SPSA), default 1");
    private readonly Option<ulong?> _seed = CommonOptions.Seed("run seed: data order and perturbations, default 42");
    private readonly Option<long?> _evalEvery = OptionKinds.Long("--eval-every", "N", "validation every N steps, default 4000", "--eval_steps");
    private readonly Option<long?> _checkpointEvery = OptionKinds.Long("--checkpoint-every", "N", "default 1000", "--save_steps");
    private readonly Option<long?> _logEvery = OptionKinds.Long("--log-every", "N", "default 10", "--logging_steps");
    private readonly Option<string?> _trainable = OptionKinds.Text("--trainable", "REGEX", "train only parameters whose Hugging Face name matches");
    private readonly Option<PeftKind?> _peft = PeftOption.Create(
        "train an adapter instead, the base frozen; model/, best/ and checkpoint/ then hold PEFT adapter folders (apply with " +
        "--adapter, or mezo merge)");
    private readonly Option<int?> _loraR = OptionKinds.Int("--lora-r", "N", "LoRA rank, default 8");
    private readonly Option<double?> _loraAlpha = OptionKinds.Double("--lora-alpha", "X", "default 16 (the bypass is scaled by α/r)");
    private readonly Option<string?> _loraTargets = OptionKinds.Text("--lora-targets", "LIST",
        "modules LoRA adapts, default q_proj,v_proj (GPT-2: q/k/v_proj name its fused c_attn; any projection name, e.g. " +
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)");
    private readonly Option<int?> _prefixTokens = OptionKinds.Int("--prefix-tokens", "N", "prefix tuning's virtual tokens per layer, default 5");
    private readonly Option<Objective?> _objective = OptionKinds.Choice<Objective>("--objective",
        "what to minimise: the task loss or the negative metric (default loss)", ["loss", "accuracy", "f1"], text => text switch
        {
            "loss" => Objective.Loss,
            "accuracy" => Objective.Accuracy,
            "f1" => Objective.F1,
            _ => null,
        });
    private readonly Option<OptimizerKind?> _optimizer = OptionKinds.Choice<OptimizerKind>("--optimizer",
        "MeZO's ZO-SGD (default), or backprop with torch.optim's SGD (no momentum) or AdamW: the paper's FT baseline on the same " +
        "engine, data and run folder (the task loss only; default lr: adamw 5e-5, sgd 1e-3; with --peft only the adapter trains). " +
        "16-bit weights keep float32 master copies; checkpoint/ then also holds optimizer.safetensors for --resume",
        ["zo-sgd", "sgd", "adamw"], text => text switch
        {
            "zo-sgd" => OptimizerKind.ZoSgd,
            "sgd" => OptimizerKind.Sgd,
            "adamw" => OptimizerKind.AdamW,
            _ => null,
        });
    private readonly Option<DistributeKind?> _distribute = OptionKinds.Choice<DistributeKind>("--distribute",
        "under mpirun (-np N), what the ranks share out in each MeZO step: the batch's forward calls, a micro-batch each (default; " +
        "a new run's micro-batch is then ⌈batch / N⌉), or the --samples " +
        "(each rank evaluates some of them on the whole batch); either way the steps are those of one process, bit for bit",
        ["batch", "samples"], text => text switch
        {
            "batch" => DistributeKind.Batch,
            "samples" => DistributeKind.Samples,
            _ => null,
        });
    private readonly Option<double?> _adamBeta1 = OptionKinds.Double("--adam-beta1", "X", "default 0.9", "--adam_beta1");
    private readonly Option<double?> _adamBeta2 = OptionKinds.Double("--adam-beta2", "X", "default 0.999", "--adam_beta2");
    private readonly Option<double?> _adamEpsilon = OptionKinds.Double("--adam-epsilon", "X", "default 1e-8", "--adam_epsilon");
    private readonly Option<double?> _maxGradNorm = OptionKinds.Double("--max-grad-norm", "X",
        "clip the gradient's global norm (sgd, adamw), default 1 (0: no clipping)", "--max_grad_norm");
    private readonly Option<bool> _gradientCheckpointing = OptionKinds.Flag("--gradient-checkpointing",
        "recompute each layer's activations in the backward pass instead of keeping them", "--gradient_checkpointing");
    private readonly Option<int?> _maxLength = CommonOptions.MaxLength("token budget per sequence (default: the model's positions)");
    private readonly Option<DType?> _dtype = ModelOptions.DtypeOption();
    private readonly Option<DType?> _compute = ModelOptions.ComputeOption();
    private readonly Option<string?> _backend = ModelOptions.BackendOption();
    private readonly Option<long?> _maxDeviceMemory = ModelOptions.MaxDeviceMemoryOption();

    public TrainCommand() : base("train",
        "fine-tune a model on a task with MeZO, or with backprop to compare (no --model: the bundled tiny default)",
        "mezo train [--model DIR --task NAME --data PATH] --out RUN [options]")
    {
        Option[] options =
        [
            _model, _revision, _task, _data, _out, _resume, _trainExamples, _evalExamples, _testExamples, _steps, _batchSize, _microBatchSize,
            _perDeviceBatchSize, _accumulationSteps, _lr, _schedule, _eps, _weightDecay, _samples, _distribute, _seed, _evalEvery,
            _checkpointEvery, _logEvery, _trainable, _peft, _loraR, _loraAlpha, _loraTargets, _prefixTokens, _objective,
            _optimizer, _adamBeta1, _adamBeta2, _adamEpsilon, _maxGradNorm, _gradientCheckpointing, _maxLength, _dtype, _compute, _backend,
            _maxDeviceMemory,
        ];
        foreach (var option in options) Add(option);
        Notes = "Hugging Face Trainer's spellings are accepted beside ours where they mean the same: --learning_rate, --max_steps, " +
                "--output_dir, --weight_decay, --eval_steps, --save_steps, --logging_steps, --lr_scheduler_type, --adam_beta1, " +
                "--adam_beta2, --adam_epsilon, --max_grad_norm, --gradient_checkpointing, and --per_device_train_batch_size with " +
                "--gradient_accumulation_steps.";
    }

    /// <summary>The option that sets each <see cref="TrainSettings"/> property, so messages name what the user typed.</summary>
    public static readonly IReadOnlyDictionary<string, string> OptionOf = new Dictionary<string, string>
    {
        [nameof(TrainSettings.Model)] = "--model", [nameof(TrainSettings.Task)] = "--task", [nameof(TrainSettings.Data)] = "--data",
        [nameof(TrainSettings.TrainExamples)] = "--train-examples", [nameof(TrainSettings.EvalExamples)] = "--eval-examples",
        [nameof(TrainSettings.TestExamples)] = "--test-examples", [nameof(TrainSettings.Steps)] = "--steps",
        [nameof(TrainSettings.BatchSize)] = "--batch-size", [nameof(TrainSettings.MicroBatchSize)] = "--micro-batch-size",
        [nameof(TrainSettings.LearningRate)] = "--lr", [nameof(TrainSettings.Schedule)] = "--lr-schedule",
        [nameof(TrainSettings.Eps)] = "--eps", [nameof(TrainSettings.WeightDecay)] = "--weight-decay",
        [nameof(TrainSettings.Samples)] = "--samples", [nameof(TrainSettings.Distribute)] = "--distribute", [nameof(TrainSettings.Seed)] = "--seed",
        [nameof(TrainSettings.EvalEvery)] = "--eval-every", [nameof(TrainSettings.CheckpointEvery)] = "--checkpoint-every",
        [nameof(TrainSettings.LogEvery)] = "--log-every", [nameof(TrainSettings.Trainable)] = "--trainable",
        [nameof(TrainSettings.Objective)] = "--objective", [nameof(TrainSettings.Storage)] = "--dtype",
        [nameof(TrainSettings.Compute)] = "--compute",
        [nameof(TrainSettings.Backend)] = "--backend", [nameof(TrainSettings.MaxLength)] = "--max-length",
        [nameof(TrainSettings.Peft)] = "--peft", [nameof(TrainSettings.LoraRank)] = "--lora-r", [nameof(TrainSettings.LoraAlpha)] = "--lora-alpha",
        [nameof(TrainSettings.LoraTargets)] = "--lora-targets", [nameof(TrainSettings.PrefixTokens)] = "--prefix-tokens",
        [nameof(TrainSettings.Optimizer)] = "--optimizer", [nameof(TrainSettings.AdamBeta1)] = "--adam-beta1",
        [nameof(TrainSettings.AdamBeta2)] = "--adam-beta2", [nameof(TrainSettings.AdamEpsilon)] = "--adam-epsilon",
        [nameof(TrainSettings.MaxGradNorm)] = "--max-grad-norm", [nameof(TrainSettings.GradientCheckpointing)] = "--gradient-checkpointing",
    };

    protected override int Run(ParseResult result, TextWriter output)
    {
        // Under mpirun every rank runs this; rank 0 speaks and writes the run folder. MPI is finalised only after a
        // success: a failed rank ends the job through Program's handlers (MpiJob.Fail) instead.
        var ranks = MpiJob.Join();
        if (ranks.Rank != 0) output = TextWriter.Null;
        string outDirectory = Required(result, _out);
        bool resume = result.GetValue(_resume);
        // Rank 0 first: without --model it makes the bundled default, which the other ranks then find made.
        if (ranks.Rank != 0) ranks.Barrier();
        var settings = Settings(result, output, resume ? new RunFolder(outDirectory).ManifestToResume().Settings : null, ranks.Size);
        if (ranks.Rank == 0) ranks.Barrier();
        if (ranks.Size > 1) output.WriteLine($"{ranks.Size} processes (mpirun), each {DescribeShare(settings.Distribute)}");
        var trained = ranks.Rank == 0
            ? ConsoleProgress.Run(output, (progress, log) => Train(settings, outDirectory, resume, log, progress, ranks))
            : Train(settings, outDirectory, resume, TextWriter.Null, null, ranks);
        if (ranks is MpiCommunicator mpi && trained.Steps > 0 && !resume)
            output.WriteLine($"rank 0 exchanged {mpi.BytesExchanged / (double)trained.Steps:N0} bytes per step (losses and evaluation results; no weights)");
        MpiJob.Leave(ranks);

        output.WriteLine();
        output.WriteLine($"trained {trained.Steps} steps in {trained.Elapsed:hh\\:mm\\:ss}, {Units.PeakMemory(trained.PeakBytes)}");
        if (trained.ValidationBefore is not null)
            output.WriteLine($"validation {trained.ValidationBefore.Metric}: before {trained.ValidationBefore.Value:F4}" +
                             (trained.ValidationBest is not null ? $", best {trained.ValidationBest.Value:F4} at step {trained.BestStep}" : ""));
        if (trained.Test is not null)
            output.WriteLine($"test {trained.Test.Metric}: before {trained.TestBefore?.Value.ToString("F4") ?? "n/a"}, after {trained.Test.Value:F4}" +
                             (trained.Test.ExactMatch is double em ? $" (exact match {em:F4})" : "") +
                             (trained.Test.Perplexity is double perplexity ? $" per token (perplexity {perplexity:F4})" : ""));
        output.WriteLine($"run folder: {Path.GetFullPath(outDirectory)}");
        return 0;
    }

    private static string DescribeShare(DistributeKind distribute) => distribute == DistributeKind.Samples
        ? "evaluating its share of each step's samples on the whole batch"
        : "running its share of each batch's forward calls and of every evaluation";

    private TrainResult Train(TrainSettings settings, string outDirectory, bool resume, TextWriter log, IProgressSink? progress, ICommunicator ranks)
    {
        var run = new TrainingRun(settings, outDirectory, resume, log, progress, ranks);
        // One notice for the job: rank 0's.
        using (ranks.Rank == 0 ? InterruptNotice.Register(run, outDirectory) : null)
        {
            try
            {
                return run.Run();
            }
            catch (SettingsMismatchException e)
            {
                throw new InvalidInputException(e.Describe(setting => OptionOf[setting]), e);
            }
        }
    }

    /// <summary>
    /// The options given over <paramref name="recorded"/> (a resumed run's settings), or over the defaults: the paper's
    /// with --model, the bundled default's without.
    /// </summary>
    /// <param name="ranks">the processes of the job: a new run that shares its batch over them calls the model on an
    /// equal share of the batch by default, the micro-batch ⌈batch / ranks⌉ (recorded, as the micro-batch always is)</param>
    private TrainSettings Settings(ParseResult result, TextWriter output, TrainSettings? recorded, int ranks)
    {
        // A Hub id is recorded as the snapshot folder it resolved to: the files the run started from.
        string? model = ModelOptions.Resolve(result.GetValue(_model), result.GetValue(_revision));
        string task, data;
        var defaults = recorded ?? new TrainSettings { Model = "", Task = "", Data = "" };
        if (recorded is not null)
        {
            model ??= recorded.Model;
            task = result.GetValue(_task) ?? recorded.Task;
            data = result.GetValue(_data) ?? recorded.Data;
        }
        else if (model is null)
        {
            if (result.Has(_task) || result.Has(_data)) throw Error("--task and --data need --model");
            (model, data) = BundledDefault.Prepare();
            task = BundledDefault.Task;
            output.WriteLine($"no --model: training the bundled default (tiny OPT, synthetic sentiment task) from {Path.GetDirectoryName(model)}");
            defaults = BundledDefault.Settings(model, data, result.GetValue(_peft), result.GetValue(_optimizer) ?? OptimizerKind.ZoSgd);
        }
        else
        {
            task = Required(result, _task);
            data = Required(result, _data);
        }
        var (batch, microBatch) = Batches(result, defaults, recorded);
        if (ranks > 1 && recorded is null && !result.Has(_microBatchSize) && !result.Has(_perDeviceBatchSize)
            && (result.GetValue(_distribute) ?? defaults.Distribute) == DistributeKind.Batch)
        {
            microBatch = (batch + ranks - 1) / ranks;
            output.WriteLine($"micro-batch {microBatch}: each forward call scores {microBatch} of the batch's {batch} examples, and the " +
                             $"{ranks} ranks share the calls (one process with --micro-batch-size {microBatch} takes the same steps)");
        }
        var peft = result.GetValue(_peft) ?? defaults.Peft;
        foreach (var option in new Option[] { _loraR, _loraAlpha, _loraTargets })
            if (result.Has(option) && peft != PeftKind.Lora) throw Error($"{option.Name} applies only with --peft lora");
        if (result.Has(_prefixTokens) && peft != PeftKind.Prefix) throw Error("--prefix-tokens applies only with --peft prefix");
        var optimizer = result.GetValue(_optimizer) ?? defaults.Optimizer;
        if (optimizer == OptimizerKind.ZoSgd)
            foreach (var option in new Option[] { _adamBeta1, _adamBeta2, _adamEpsilon, _maxGradNorm, _gradientCheckpointing })
                if (result.Has(option)) throw Error($"{option.Name} applies to backprop's optimizers (--optimizer sgd or adamw), not MeZO's ZO-SGD");
        // MeZO's rates are far below what backprop takes; a first-order run without --lr starts from its own.
        double learningRate = recorded is null && optimizer != defaults.Optimizer && optimizer != OptimizerKind.ZoSgd
            ? optimizer == OptimizerKind.AdamW ? 5e-5 : 1e-3
            : defaults.LearningRate;
        return defaults with
        {
            Model = model,
            Task = task,
            Data = data,
            TrainExamples = NonNegative(result, _trainExamples, defaults.TrainExamples),
            EvalExamples = NonNegative(result, _evalExamples, defaults.EvalExamples),
            TestExamples = NonNegative(result, _testExamples, defaults.TestExamples),
            Steps = result.GetValue(_steps) ?? defaults.Steps,
            BatchSize = batch,
            MicroBatchSize = microBatch,
            LearningRate = result.GetValue(_lr) ?? learningRate,
            Schedule = result.GetValue(_schedule) ?? defaults.Schedule,
            Eps = result.GetValue(_eps) ?? defaults.Eps,
            WeightDecay = result.GetValue(_weightDecay) ?? defaults.WeightDecay,
            Samples = result.GetValue(_samples) ?? defaults.Samples,
            Distribute = result.GetValue(_distribute) ?? defaults.Distribute,
            Seed = result.GetValue(_seed) ?? defaults.Seed,
            EvalEvery = result.GetValue(_evalEvery) ?? defaults.EvalEvery,
            CheckpointEvery = result.GetValue(_checkpointEvery) ?? defaults.CheckpointEvery,
            LogEvery = result.GetValue(_logEvery) ?? defaults.LogEvery,
            Trainable = result.GetValue(_trainable) ?? defaults.Trainable,
            Objective = result.GetValue(_objective) ?? defaults.Objective,
            MaxLength = result.Has(_maxLength) ? result.GetValue(_maxLength) : defaults.MaxLength,
            Storage = result.Has(_dtype) ? result.GetValue(_dtype) : defaults.Storage,
            Compute = result.Has(_compute) ? result.GetValue(_compute) : defaults.Compute,
            Backend = result.GetValue(_backend) ?? defaults.Backend,
            MaxDeviceMemory = result.GetValue(_maxDeviceMemory),
            Peft = peft,
            LoraRank = result.GetValue(_loraR) ?? defaults.LoraRank,
            LoraAlpha = result.GetValue(_loraAlpha) ?? defaults.LoraAlpha,
            LoraTargets = result.GetValue(_loraTargets) ?? defaults.LoraTargets,
            PrefixTokens = result.GetValue(_prefixTokens) ?? defaults.PrefixTokens,
            Optimizer = optimizer,
            AdamBeta1 = result.GetValue(_adamBeta1) ?? defaults.AdamBeta1,
            AdamBeta2 = result.GetValue(_adamBeta2) ?? defaults.AdamBeta2,
            AdamEpsilon = result.GetValue(_adamEpsilon) ?? defaults.AdamEpsilon,
            MaxGradNorm = result.GetValue(_maxGradNorm) ?? defaults.MaxGradNorm,
            GradientCheckpointing = result.GetValue(_gradientCheckpointing) || defaults.GradientCheckpointing,
        };
    }

    /// <summary>
    /// The step's batch and the forward call's: --batch-size and --micro-batch-size (a new run's micro-batch defaults to
    /// its batch), or Hugging Face's --per_device_train_batch_size N with --gradient_accumulation_steps K (N and N × K).
    /// </summary>
    private (int Batch, int MicroBatch) Batches(ParseResult result, TrainSettings defaults, TrainSettings? recorded)
    {
        if (!result.Has(_perDeviceBatchSize))
        {
            if (result.Has(_accumulationSteps)) throw Error("--gradient_accumulation_steps goes with --per_device_train_batch_size");
            int batch = result.GetValue(_batchSize) ?? defaults.BatchSize;
            return (batch, result.GetValue(_microBatchSize) ?? (result.Has(_batchSize) && recorded is null ? batch : defaults.MicroBatchSize));
        }
        if (new Option[] { _batchSize, _microBatchSize }.FirstOrDefault(result.Has) is { } native)
            throw Error($"--per_device_train_batch_size and {native.Name} both set the batch; give Hugging Face's spelling or ours");
        int perDevice = result.GetValue(_perDeviceBatchSize)!.Value, accumulation = result.GetValue(_accumulationSteps) ?? 1;
        if (perDevice <= 0 || accumulation <= 0)
            throw Error("--per_device_train_batch_size and --gradient_accumulation_steps must be positive");
        long total = (long)perDevice * accumulation;
        return total <= int.MaxValue ? ((int)total, perDevice) : throw Error("--per_device_train_batch_size × --gradient_accumulation_steps is too large");
    }

    private int NonNegative(ParseResult result, Option<int?> option, int fallback)
    {
        int v = result.GetValue(option) ?? fallback;
        return v >= 0 ? v : throw Error($"{option.Name} must not be negative");
    }
}
