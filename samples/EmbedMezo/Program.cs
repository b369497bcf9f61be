// samples/EmbedMezo: MeZO.Engine and MeZO.Trainer used by a program of their user, built against the packages
// (`dotnet pwsh build.ps1 sample` packs them into artifacts/packages, the feed nuget.config names, then runs this).
// README.md's "Using the engine from .NET" quotes this file from its first `using` on; EmbeddingExampleTests checks
// that the two agree.
using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;

// The bundled default, a tiny OPT model and an SST-2-shaped task generated on the spot; with your own model and data:
// new TrainSettings { Model = "models/opt-125m", Task = "sst2", Data = "data/SST-2", Steps = 20_000, LearningRate = 1e-6 }
var (model, data) = BundledDefault.Prepare();
TrainSettings settings = BundledDefault.Settings(model, data) with { Steps = 1000, EvalEvery = 500, CheckpointEvery = 500 };
string runFolder = args.Length > 0 ? args[0] : Directory.CreateTempSubdirectory("embed-mezo-").FullName;
TrainResult result = new TrainingRun(settings, runFolder, resume: false, Console.Out).Run();
Console.WriteLine($"test {result.Test!.Metric} {result.TestBefore!.Value:F3} -> {result.Test.Value:F3}; run folder {runFolder}");
