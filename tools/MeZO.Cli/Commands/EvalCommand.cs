using System.CommandLine;
using MeZO.Engine;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>`mezo eval`: a model's metric on a task's test split (DESIGN §5).</summary>
public sealed class EvalCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly Option<string?> _task = OptionKinds.Text("--task", "NAME", "sst2 rte cb boolq wsc wic multirc copa record squad drop");
    private readonly Option<string?> _data = OptionKinds.Text("--data", "PATH", "folder of the task's files in their official format");
    private readonly Option<int?> _testExamples = OptionKinds.Int("--test-examples", "N",
        "examples sampled from the official validation split (default 1000; all if fewer)");
    private readonly Option<int?> _demonstrations = OptionKinds.Int("--demonstrations", "K",
        "in-context learning, the paper's ICL baseline: before each test example, K examples of the training split with their " +
        "gold answers, in the task's template, separated by a blank line; a fresh draw for each test example (seeded by --seed); " +
        "the context is cut from the left to fit (default 0: zero-shot; the paper uses 32)");
    // Hugging Face's per-device evaluation batch is, as here, the examples of one forward call.
    private readonly Option<int?> _batchSize = CommonOptions.BatchSize("examples per forward call (default 16)", "--per_device_eval_batch_size");
    private readonly Option<ulong?> _seed = CommonOptions.Seed("sampling seed (default 42, as mezo train)");
    private readonly Option<int?> _maxLength = CommonOptions.MaxLength("token budget per sequence (default: the model's positions)");
    private readonly Option<bool> _json = CommonOptions.Json(
        "print {\"task\", \"metric\", \"value\", \"exact_match\", \"perplexity\" (text), \"examples\", \"demonstrations\"}");

    public EvalCommand() : base("eval", "a model's metric on a task's test split (accuracy, or F1/EM for generation)",
        "mezo eval --model DIR --task NAME --data PATH [--test-examples N] [--demonstrations K] [--batch-size B] [--seed N]",
        "          [--adapter DIR] [--json] [--max-length N] [--dtype f32|f16|bf16] [--backend cpu|cuda]")
    {
        _model = new ModelOptions(this, withAdapter: true, "Hugging Face model folder", withStreaming: true);
        Add(_task);
        Add(_data);
        Add(_testExamples);
        Add(_demonstrations);
        Add(_batchSize);
        Add(_seed);
        Add(_maxLength);
        Add(_json);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        int testExamples = result.GetValue(_testExamples) ?? 1000, batch = result.GetValue(_batchSize) ?? 16;
        if (testExamples <= 0 || batch <= 0) throw Error("--test-examples and --batch-size must be positive");
        int demonstrations = result.GetValue(_demonstrations) ?? 0;
        if (demonstrations < 0) throw Error("--demonstrations must be 0 (zero-shot) or more");
        var options = new SessionOptions
        {
            Model = _model.Directory(result) ?? Required(result, _model.Model), Task = Required(result, _task), Data = Required(result, _data), TestExamples = testExamples,
            Seed = result.GetValue(_seed) ?? 42, MicroBatchSize = batch, Backend = result.GetValue(_model.Backend) ?? "cpu",
            Storage = result.GetValue(_model.Dtype), Compute = result.GetValue(_model.Compute), MaxLength = result.GetValue(_maxLength), Demonstrations = demonstrations,
            Adapter = result.GetValue(_model.Adapter!), MaxDeviceMemory = result.GetValue(_model.MaxDeviceMemory!),
        };
        // Under mpirun the ranks share the test split's chunks and rank 0 reports; MPI is done once the pass is.
        var ranks = MpiJob.Join();
        (TrainingSession, EvalResult) Evaluate(Action<string, long, long>? working)
        {
            var opened = TrainingSession.Open(options, working, ranks);
            try
            {
                if (ranks.Rank == 0)
                    foreach (string note in opened.Notes) Console.Error.WriteLine("note: " + note);
                return (opened, opened.Evaluator.Evaluate(opened.Test, batch, working is null ? null : (done, total) => working("test", done, total)));
            }
            catch
            {
                opened.Dispose();
                throw;
            }
        }
        // Loading and the pass over the test split report progress: a large model or split is silent for minutes otherwise.
        var (session, evaluation) = ranks.Rank == 0 ? ConsoleProgress.Run(output, (progress, _) => Evaluate(progress.Working)) : Evaluate(null);
        bool speaks = ranks.Rank == 0;
        MpiJob.Leave(ranks);
        if (!speaks)
        {
            session.Dispose();
            return 0;
        }
        using var _ = session;
        if (result.GetValue(_json))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteString("task", session.Task.Name);
                json.WriteString("metric", evaluation.Metric);
                json.WriteNumber("value", evaluation.Value);
                if (evaluation.ExactMatch is double em) json.WriteNumber("exact_match", em);
                else json.WriteNull("exact_match");
                if (evaluation.Perplexity is double perplexity) json.WriteNumber("perplexity", perplexity);
                json.WriteNumber("examples", evaluation.Examples);
                json.WriteNumber("demonstrations", demonstrations);
                json.WriteNumber("peak_memory_bytes", session.Backend.Memory.PeakTotal);
                if (ProcessMemory.PeakResidentBytes() is long rss) json.WriteNumber("peak_rss_bytes", rss);
                json.WriteEndObject();
            });
            return 0;
        }
        string shots = demonstrations > 0 ? $", {demonstrations} demonstrations each" : "";
        output.WriteLine($"{session.Task.Name} test {evaluation}{shots}, {Units.PeakMemory(session.Backend.Memory.PeakTotal)}");
        return 0;
    }
}
