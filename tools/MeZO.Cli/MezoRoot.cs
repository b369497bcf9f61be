using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using MeZO.Cli.Commands;
using MeZO.Trainer.Runs;

namespace MeZO.Cli;

/// <summary>`mezo` itself: its commands, --verbose for every one of them, --help, --version and the [suggest] directive.</summary>
public static class MezoRoot
{
    public const string VerboseName = "--verbose";

    public static RootCommand Create()
    {
        var root = new RootCommand("fine-tune language models with forward passes only (MeZO)")
        {
            new ScoreCommand(), new GradCommand(), new GenerateCommand(), new InspectCommand(), new TrainCommand(),
            new EvalCommand(), new ReplayCommand(), new MergeCommand(), new VerifyCommand(), new BenchCommand(),
        };
        var verbose = OptionKinds.Flag(VerboseName, "print stack traces on errors");
        verbose.Recursive = true;
        root.Options.Add(verbose);
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpText();
        help.Description = "print this help";
        var version = root.Options.OfType<VersionOption>().Single();
        version.Action = new EngineVersion();
        version.Description = "print the engine's version (the engine_version a run's run.json records)";
        // No command at all is a usage error: the help text, on stderr, exit 1.
        root.SetAction(result =>
        {
            HelpText.Write(result.RootCommandResult.Command, Console.Error);
            return 1;
        });
        return root;
    }

    /// <summary>The version a run records in run.json (engine_version), so `mezo --version` and a run folder agree.</summary>
    private sealed class EngineVersion : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(RunManifest.EngineVersionString);
            return 0;
        }
    }
}
