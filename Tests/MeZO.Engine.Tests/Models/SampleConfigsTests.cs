using MeZO.Engine.Models;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// samples/configs holds OPT-1.3B and OPT-13B as config.json alone (what `mezo bench step --plan` reads). Their
/// parameter counts are those of transformers' OPTForCausalLM at these shapes, counted by hand from the module list
/// (tied head; q, k, v, out and both MLP layers with biases; two LayerNorms per layer and a final one; 2048 + 2
/// learned positions), so a mistyped size in either file fails here.
/// </summary>
public class SampleConfigsTests
{
    [TestCase("opt-1.3b", 2048, 24, 8192, 1_315_758_080L)]
    [TestCase("opt-13b", 5120, 40, 20480, 12_853_473_280L)]
    public void TheOptConfigsHaveTheirModelsShapeAndParameterCount(string name, int hidden, int layers, int ffn, long parameters)
    {
        var spec = ModelConfigReader.Read(Path.Combine(RepositoryRoot(), "samples", "configs", name));

        Assert.That((spec.HiddenSize, spec.NumLayers, spec.IntermediateSize, spec.VocabSize), Is.EqualTo((hidden, layers, ffn, 50272)));
        long c = hidden, f = ffn;
        long byHand = 50272 * c + 2050 * c + layers * (4 * c * c + 4 * c + 2 * c * f + f + c + 4 * c) + 2 * c;
        Assert.That(byHand, Is.EqualTo(parameters));
        Assert.That(WeightPlan.For(spec).Sum(w => w.ElementCount), Is.EqualTo(parameters));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "samples", "configs"))) return dir.FullName;
        throw new AssertionException("samples/configs was not found above " + AppContext.BaseDirectory);
    }
}
