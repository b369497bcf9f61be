using MeZO.Engine;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>`mezo eval`: a model's metric on a task's test split (DESIGN §5).</summary>
public sealed class EvalCommand : ICommand
{
    public string Name => "eval";
    public string Summary => "a model's metric on a task's test split (accuracy, or F1/EM for generation)";
    public string Help => """
        mezo eval --model DIR --task NAME --data PATH [--test-examples N] [--demonstrations K] [--batch-size B] [--seed N]
                  [--adapter DIR] [--json] [--max-length N] [--dtype f32|f16|bf16] [--backend cpu|cuda]

          --test-examples N   examples sampled from the official validation split (default 1000; all if fewer)
          --demonstrations K  in-context learning, the paper's ICL baseline: before each test example, K examples of the
                              training split with their gold answers, in the task's template, separated by a blank line;
                              a fresh draw for each test example (seeded by --seed); the context is cut from the left to
                              fit (default 0: zero-shot; the paper uses 32)
          --adapter DIR       a PEFT adapter folder applied to the model without merging (a run's best/ after --peft)
          --batch-size B      examples per forward call (default 16)
          --seed N            sampling seed (default 42, as mezo train)
          --json              print {"task", "metric", "value", "exact_match", "examples", "demonstrations"}
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args,
            new HashSet<string>([.. ModelOptions.Names, ModelOptions.Adapter, "task", "data", "test-examples", "demonstrations", "batch-size", "seed", "max-length"]),
            new HashSet<string> { "json" });
        int testExamples = cl.Int("test-examples", 1000), batch = cl.Int("batch-size", 16);
        if (testExamples <= 0 || batch <= 0) throw cl.Error("--test-examples and --batch-size must be positive");
        int demonstrations = cl.Int("demonstrations", 0);
        if (demonstrations < 0) throw cl.Error("--demonstrations must be 0 (zero-shot) or more");
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = cl.RequiredString("model"), Task = cl.RequiredString("task"), Data = cl.RequiredString("data"), TestExamples = testExamples,
            Seed = cl.ULong("seed", 42), MicroBatchSize = batch, Backend = cl.String("backend") ?? "cpu", Storage = ModelOptions.StorageType(cl),
            MaxLength = cl.Has("max-length") ? cl.Int("max-length", 0) : null, Demonstrations = demonstrations,
            Adapter = cl.String(ModelOptions.Adapter),
        });
        foreach (string note in session.Notes) Console.Error.WriteLine("note: " + note);
        var result = session.Evaluator.Evaluate(session.Test, batch);
        if (cl.Has("json"))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteString("task", session.Task.Name);
                json.WriteString("metric", result.Metric);
                json.WriteNumber("value", result.Value);
                if (result.ExactMatch is double em) json.WriteNumber("exact_match", em);
                else json.WriteNull("exact_match");
                json.WriteNumber("examples", result.Examples);
                json.WriteNumber("demonstrations", demonstrations);
                json.WriteNumber("peak_memory_bytes", session.Backend.Memory.PeakTotal);
                if (ProcessMemory.PeakResidentBytes() is long rss) json.WriteNumber("peak_rss_bytes", rss);
                json.WriteEndObject();
            });
            return 0;
        }
        string shots = demonstrations > 0 ? $", {demonstrations} demonstrations each" : "";
        output.WriteLine($"{session.Task.Name} test {result}{shots}, {Units.PeakMemory(session.Backend.Memory.PeakTotal)}");
        return 0;
    }
}
