using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

namespace MeZO.Cli.Commands;

/// <summary>`mezo replay`: rebuild a run's final weights from the base model and trajectory.jsonl alone.</summary>
public sealed class ReplayCommand : ICommand
{
    public string Name => "replay";
    public string Summary => "rebuild a run's final weights from the base model and its trajectory alone";
    public string Help => """
        mezo replay --base DIR --run RUN --out DIR [--backend cpu|cuda]

          --base DIR   the model the run started from (checked against the SHA-256 in RUN/run.json)
          --run RUN    the run folder (run.json and trajectory.jsonl are read; nothing else)
          --out DIR    where to write the rebuilt model (bit-identical to RUN/model on the same backend)
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string> { "base", "run", "out", "backend" }, new HashSet<string>());
        var result = Replay.Run(cl.RequiredString("base"), cl.RequiredString("run"), cl.RequiredString("out"), cl.String("backend"));
        output.WriteLine($"replayed {result.Steps} steps ({result.Records} perturbations) onto {result.TrainableParameters:N0} parameters in " +
                         $"{result.Elapsed.TotalSeconds:F1} s → {Path.GetFullPath(cl.RequiredString("out"))}");
        return 0;
    }
}
