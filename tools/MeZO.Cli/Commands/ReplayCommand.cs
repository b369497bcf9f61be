using System.CommandLine;
using MeZO.Trainer.Runs;

namespace MeZO.Cli.Commands;

/// <summary>`mezo replay`: rebuild a run's final weights from the base model and trajectory.jsonl alone.</summary>
public sealed class ReplayCommand : MezoCommand
{
    // --base was the option's first name; --model is every other command's.
    private readonly Option<string?> _model = ModelOptions.ModelOption(
        "the model the run started from (checked against the SHA-256 in RUN/run.json)", "--base");
    private readonly Option<string?> _revision = ModelOptions.RevisionOption();
    private readonly Option<string?> _run = OptionKinds.Text("--run", "RUN", "the run folder (run.json and trajectory.jsonl are read; nothing else)");
    private readonly Option<string?> _out = CommonOptions.Out("DIR", "where to write the rebuilt model (bit-identical to RUN/model on the same backend)");
    private readonly Option<string?> _backend = ModelOptions.BackendOption();

    public ReplayCommand() : base("replay", "rebuild a run's final weights from the base model and its trajectory alone",
        "mezo replay --model DIR --run RUN --out DIR [--backend cpu|cuda]")
    {
        Add(_model);
        Add(_revision);
        Add(_run);
        Add(_out);
        Add(_backend);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        string outDirectory = Required(result, _out);
        var replayed = Replay.Run(ModelOptions.Resolve(Required(result, _model), result.GetValue(_revision))!, Required(result, _run), outDirectory, result.GetValue(_backend));
        output.WriteLine($"replayed {replayed.Steps} steps ({replayed.Records} perturbations) onto {replayed.TrainableParameters:N0} parameters in " +
                         $"{replayed.Elapsed.TotalSeconds:F1} s → {Path.GetFullPath(outDirectory)}");
        return 0;
    }
}
