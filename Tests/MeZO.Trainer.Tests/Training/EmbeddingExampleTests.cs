using MeZO.Engine;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Training;

/// <summary>
/// The README's "Using the engine from .NET" example, line for line (only the model folder and the output folder
/// differ): a program that brings its own objective to the engine's building blocks. If this test needs a change, the
/// README's example needs the same one.
/// </summary>
public class EmbeddingExampleTests
{
    [Test]
    public void TheReadmeExampleLowersItsOwnObjectiveAndSavesALoadableModel()
    {
        string modelFolder = BundledRun.Model;
        using var output = new TemporaryFolder();
        string tunedFolder = Path.Combine(output.Path, "tuned");

        // ---- the README's example ----
        using var backend = BackendFactory.Create("cpu");
        using var model = Transformer.Load(modelFolder, backend);
        using var tokenizer = ModelTokenizer.Load(modelFolder, model.Spec);

        // The objective: the mean negative log-likelihood of one sentence, token by token.
        int[] ids = tokenizer.Encode("a gripping , wonderful film");
        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        int[] rows = Enumerable.Range(0, ids.Length - 1).Select(i => batch.Row(0, i)).ToArray();
        int[] targets = ids[1..];
        var logProbs = new float[rows.Length];
        using var workspace = model.CreateWorkspace(maxBatch: 1, maxLength: ids.Length);
        // The objective at θ + scale·z (θ itself when no perturbation is given): MeZO asks for it at +ε and −ε.
        double Loss(WeightPerturbation? perturbation = null)
        {
            model.ScoreTokens(workspace, batch, rows, targets, logProbs, perturbation);
            return -logProbs.Average();
        }

        double before = Loss();
        var optimizer = new ZerothOrderSgd(TrainableSet.Select(model.Weights, nameFilter: null),
            eps: 1e-3, weightDecay: 0, runSeed: 42, samples: 1);
        var trajectory = new List<StepRecord>();
        for (long step = 0; step < 300; step++)
            optimizer.Step(step, learningRate: 1e-3, plus => new LossPair(Loss(plus), Loss(MezoStep.Minus(plus))), trajectory.Add);
        double after = Loss();

        model.Weights.Save(tunedFolder, RunFolder.ModelSideFiles(modelFolder));
        // ---- end of the example ----

        TestContext.Out.WriteLine($"sentence NLL: {before:F4} before, {after:F4} after 300 steps");
        // Before training the sentence costs about ln(vocabulary) per token; one short sentence is easy to memorise, and
        // 300 steps take it from 4.09 to 0.17 nat (seed 42). Asking only that it halves leaves a wide margin for other
        // seeds, while a wrong sign or a lost update leaves it near where it started (the forward pass is deterministic,
        // so evaluating the same weights twice gives exactly the same loss).
        Assert.That(after, Is.LessThan(before / 2), "the objective fell");
        Assert.That(trajectory, Has.Count.EqualTo(300));

        // The saved folder is a model the engine loads back, and it scores the sentence as the tuned weights did.
        using var reloaded = Transformer.Load(tunedFolder, backend);
        using var reloadedWorkspace = reloaded.CreateWorkspace(maxBatch: 1, maxLength: ids.Length);
        var reloadedLogProbs = new float[rows.Length];
        reloaded.ScoreTokens(reloadedWorkspace, batch, rows, targets, reloadedLogProbs);
        Assert.That(reloadedLogProbs, Is.EqualTo(logProbs), "the saved weights are the tuned ones, bit for bit (F32 storage)");
    }

    /// <summary>
    /// CI runs samples/EmbedMezo against the packed packages; the README and the packages' own README show that program,
    /// so what they show is what CI ran.
    /// </summary>
    [Test]
    public void TheReadmesQuoteTheSampleProgram()
    {
        string root = RepositoryRoot();
        string program = File.ReadAllText(Path.Combine(root, "samples", "EmbedMezo", "Program.cs"));
        string quoted = "```csharp\n" + program[program.IndexOf("using ", StringComparison.Ordinal)..] + "```\n";
        foreach (string readme in new[] { "README.md", "PACKAGE.md" })
            Assert.That(File.ReadAllText(Path.Combine(root, readme)), Does.Contain(quoted),
                $"{readme} quotes samples/EmbedMezo/Program.cs from its first `using` on");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "samples", "EmbedMezo", "Program.cs"))) return dir.FullName;
        throw new AssertionException("samples/EmbedMezo/Program.cs was not found above " + AppContext.BaseDirectory);
    }
}
