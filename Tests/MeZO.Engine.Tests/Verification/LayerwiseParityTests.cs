using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Verification;

/// <summary>
/// ModelParity compares two backends op by op: a candidate with one weight of layer 1's up projection changed must be
/// reported at exactly that op and layer, not at the logits, and not at an op before it.
/// </summary>
[TestFixture]
public sealed class LayerwiseParityTests
{
    private static IEnumerable<string> TinyModelNames() => TinyModels.All.Select(m => m.Name);

    [TestCaseSource(nameof(TinyModelNames))]
    public void AChangedWeightIsReportedAtTheFirstOpItChanges(string name)
    {
        string root = Path.Combine(Path.GetTempPath(), $"mezo-layerwise-{name}-{Environment.ProcessId}"), folder = Path.Combine(root, name);
        try
        {
            // Float32 weights, so the change is written as is (the tiny models' own 16-bit storage would round it).
            SyntheticCheckpoint.Write(folder, TinyModels.All.Single(m => m.Name == name).Config, DType.F32, seed: 7);
            using var cpu = new CpuBackend();
            using var reference = Transformer.Load(folder, cpu);
            using var candidate = Transformer.Load(folder, cpu);
            Assert.That(ModelParity.Logits(reference, candidate).Passed, Is.True, "the same model on the same backend");

            // An order-one change of the weight from hidden unit 0 to MLP unit 0: every row's ffn_up moves by its
            // hidden unit 0, far beyond the float32 tolerance, and nothing computed before it moves at all.
            candidate.Weights.Layers[1].Up.AsSpan<float>()[0] += 1f;
            var result = ModelParity.Logits(reference, candidate);

            Assert.That(result.Passed, Is.False);
            Assert.That(result.Case, Is.EqualTo($"{name}: layers.1.ffn_up"), result.ToString());
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
