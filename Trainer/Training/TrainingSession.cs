using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Distributed;
using MeZO.Engine.Mezo;
using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;

namespace MeZO.Trainer.Training;

/// <summary>
/// A model, its tokenizer and a task's data, encoded and ready: what `mezo train` and `mezo eval` share. Owns the
/// backend and the model; one <see cref="CandidateScorer"/> sized for the largest micro-batch serves training and evaluation.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private TrainingSession(IBackend backend, IBackend? host, Transformer model, ModelTokenizer tokenizer, TaskEncoder encoder,
        IReadOnlyList<EncodedExample> train, IReadOnlyList<EncodedExample> validation,
        IReadOnlyList<EncodedExample> test, CandidateScorer scorer, IReadOnlyList<string> notes,
        IReadOnlyDictionary<string, string> dataFiles, IAdapter? adapter, ICommunicator ranks, int examplesPerCall)
    {
        Ranks = ranks;
        Backend = backend;
        _host = host;
        Model = model;
        Adapter = adapter;
        Tokenizer = tokenizer;
        Encoder = encoder;
        Train = train;
        Validation = validation;
        Test = test;
        Scorer = scorer;
        Notes = notes;
        DataFiles = dataFiles;
        Evaluator = new Evaluator(model, tokenizer, encoder, scorer, ranks, examplesPerCall);
    }

    public IBackend Backend { get; }

    /// <summary>The processes of the data-parallel job this session is part of (this one alone outside mpirun).</summary>
    public ICommunicator Ranks { get; }

    /// <summary>Where a streamed model's layers live (<see cref="SessionOptions.MaxDeviceMemory"/>); null when resident.</summary>
    private readonly IBackend? _host;
    public Transformer Model { get; }

    /// <summary>The adapter the model computes with, which is then all that trains; null for full-parameter training.</summary>
    public IAdapter? Adapter { get; }
    public ModelTokenizer Tokenizer { get; }
    public TaskEncoder Encoder { get; }
    public ITask Task => Encoder.Task;
    public IReadOnlyList<EncodedExample> Train { get; }
    public IReadOnlyList<EncodedExample> Validation { get; }
    public IReadOnlyList<EncodedExample> Test { get; }
    public CandidateScorer Scorer { get; }
    public Evaluator Evaluator { get; }
    /// <summary>What the user should know about the data: smaller splits than asked, truncated prompts.</summary>
    public IReadOnlyList<string> Notes { get; }
    /// <summary>SHA-256 of each task data file the examples were read from, by its name in the data folder.</summary>
    public IReadOnlyDictionary<string, string> DataFiles { get; }

    /// <param name="working">told ("loading", bytes read, bytes in all) as the model's weights load</param>
    /// <param name="ranks">the processes of a data-parallel job, which share out the forward calls of training and evaluation (one by default)</param>
    public static TrainingSession Open(SessionOptions options, Action<string, long, long>? working = null, ICommunicator? ranks = null)
    {
        var task = TaskRegistry.Get(options.Task);
        if (options.Demonstrations < 0)
            throw new InvalidInputException($"--demonstrations {options.Demonstrations}: the number of demonstrations cannot be negative");
        if (options.Demonstrations > 0 && options.TrainExamples + options.EvalExamples > 0)
            throw new InvalidInputException("in-context demonstrations are for evaluating a model without training " +
                                            "(MeZO evaluates what it trains without them); ask for no training or validation examples");
        var splits = DatasetSplits.Sample(task, options.Data, options.TrainExamples, options.EvalExamples, options.TestExamples,
            options.Seed, options.Demonstrations);
        if (options.Demonstrations > 0 && task.Kind == TaskKind.LanguageModeling)
            throw new InvalidInputException($"{task.Name}: the data is plain text, which has no answers for demonstrations to show");
        var backend = BackendFactory.Create(options.Backend);
        Transformer? model = null;
        IBackend? host = null;
        ModelTokenizer? tokenizer = null;
        IAdapter? adapter = null;
        try
        {
            host = options.MaxDeviceMemory is null ? null : BackendFactory.CreateStreamingHost(backend);
            model = Transformer.Load(options.Model, backend, options.Storage,
                working is null ? null : (done, total) => working("loading", done, total),
                host is null ? null : new LayerStreaming(host, options.MaxDeviceMemory!.Value), options.ComputeToLoad);
            adapter = PeftSetup.Attach(model, options);
            tokenizer = ModelTokenizer.Load(options.Model, model.Spec);
            int context = TaskEncoder.ContextOf(model.Spec, options.MaxLength);
            int reserved = task.Kind == TaskKind.Generation ? TaskEncoder.MaxNewTokens : 0;
            if (context - reserved < 2)
                throw new InvalidInputException($"--max-length {context} leaves no room for a prompt and an answer" +
                                                (reserved > 0 ? $" after the {reserved} tokens reserved for generation" : "") +
                                                $" (at least {reserved + 2})");
            var encoder = new TaskEncoder(task, tokenizer, context);
            var notes = new List<string>(splits.Notes);
            IReadOnlyList<EncodedExample> Encode(IReadOnlyList<TaskExample> examples, string split,
                IReadOnlyList<IReadOnlyList<TaskExample>>? demonstrations = null)
            {
                var encoded = encoder.EncodeAll(examples, out int truncated, demonstrations);
                string with = options.Demonstrations > 0 ? $" with their {options.Demonstrations} demonstrations" : "";
                if (truncated > 0)
                    notes.Add($"{truncated} of {examples.Count} {split} examples{with} were longer than {encoder.MaxLength} tokens and were truncated from the left");
                return encoded;
            }
            var train = Encode(splits.Train, "training");
            var validation = Encode(splits.Validation, "validation");
            var test = Encode(splits.Test, "test", splits.TestDemonstrations);
            var all = train.Concat(validation).Concat(test).ToArray();
            if (all.Length == 0) throw new InvalidInputException($"{options.Task}: no examples to train or evaluate on");
            int candidates = all.Max(e => e.Candidates.Count);
            int longest = all.Max(e => e.LongestSequence);
            var scorer = new CandidateScorer(model, Math.Max(1, options.MicroBatchSize) * candidates, longest);
            return new TrainingSession(backend, host, model, tokenizer, encoder, train, validation, test, scorer, notes, splits.Files, adapter,
                ranks ?? SingleProcess.Instance, Math.Max(1, options.MicroBatchSize));
        }
        catch
        {
            adapter?.Dispose();
            tokenizer?.Dispose();
            model?.Dispose();
            host?.Dispose();
            backend.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What training changes, and so what a run perturbs and saves: the adapter's tensors, or the model's parameters
    /// (those <paramref name="nameFilter"/> matches, a .NET regular expression; all when null).
    /// </summary>
    public TrainableSet SelectTrainable(string? nameFilter) => PeftSetup.Trainable(Model, Adapter, nameFilter);

    /// <summary>
    /// Saves what training changes: a PEFT adapter folder naming <paramref name="baseModel"/>, or a whole model folder
    /// in the base's layout; <paramref name="sideFiles"/> (config, tokenizer, a checkpoint's state) are copied in.
    /// </summary>
    public void SaveTrained(string directory, string baseModel, IEnumerable<string> sideFiles)
    {
        if (Adapter is { } adapter) adapter.Save(directory, Path.GetFullPath(baseModel), sideFiles);
        else Model.Weights.Save(directory, sideFiles);
    }

    /// <summary>Loads what <see cref="SaveTrained"/> wrote back into the trained tensors.</summary>
    public void RestoreTrained(string directory)
    {
        if (Adapter is { } adapter) AdapterFolder.Restore(directory, adapter.Parameters);
        else Model.Weights.Restore(directory);
    }

    public void Dispose()
    {
        Scorer.Dispose();
        Adapter?.Dispose();
        Tokenizer.Dispose();
        Model.Dispose();
        _host?.Dispose();
        Backend.Dispose();
    }
}
