using System.Text.RegularExpressions;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Optimizer;
using MeZO.Trainer.Tests.Support;
using MeZO.Trainer.Tests.Tasks;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Trainer.Tests.Optimizer;

/// <summary>
/// ZerothOrderSgd.Step against DESIGN §3 written out in this file: its own z (<see cref="ReferenceNoise"/>), its own
/// canonical order (the names in the checkpoint's header, sorted ordinally, indices cumulative over the trainable ones),
/// its own float32 arithmetic one operation at a time and its own bfloat16 rounding. The loss is a quadratic of the
/// weights read back from the backend, so every pass of the optimizer shows in L+, L− and g.
/// </summary>
public class ZerothOrderSgdTests
{
    private const ulong RunSeed = 0xC0FF_EE00_D15E_A5E5ul;
    private const double Eps = 1e-3;
    private const long StepNumber = 7;

    private TemporaryFolder _folder = null!;
    private string _model = null!;

    [OneTimeSetUp]
    public void WriteModel()
    {
        _folder = new TemporaryFolder();
        _model = Path.Combine(_folder.Path, "model");
        // Odd widths (30, 22, vocabulary 1031) put most tensors' first global index off a multiple of 4, so a Philox
        // block straddles two tensors; the embedding (30,930 elements) spans several of the backend's 1,024-element tiles.
        SyntheticCheckpoint.Write(_model, TinyModel.OptConfig(vocabulary: 1031, hidden: 30, layers: 1, ffn: 22, heads: 3, positions: 16),
            DType.F32, seed: 11);
    }

    [OneTimeTearDown]
    public void DeleteModel() => _folder.Dispose();

    [TestCase(DType.F32, 0.0, 1, null, TestName = "F32, one sample, every tensor")]
    [TestCase(DType.BF16, 0.0, 1, null, TestName = "BF16, one sample, every tensor")]
    [TestCase(DType.F32, 0.5, 1, null, TestName = "F32, weight decay (not on biases and norm weights)")]
    [TestCase(DType.BF16, 0.5, 1, null, TestName = "BF16, weight decay (not on biases and norm weights)")]
    [TestCase(DType.F32, 0.5, 3, null, TestName = "F32, three samples (n-SPSA) with lr/3 each")]
    [TestCase(DType.F32, 0.5, 2, @"fc1|self_attn\.(q_proj|v_proj)\.", TestName = "F32, a --trainable filter")]
    [TestCase(DType.BF16, 0.0, 2, @"layer_norm|embed_tokens", TestName = "BF16, a --trainable filter, two samples")]
    public void OneStepEqualsDesignSection3WrittenOutInPlainLoops(DType dtype, double weightDecay, int samples, string? filter)
    {
        const double learningRate = 0.03;
        using var backend = new CpuBackend();
        using var model = Transformer.Load(_model, backend, dtype);
        var reference = new ReferenceWeights(_model, model.Weights, dtype, filter, new Random(5));

        var expected = reference.Step(RunSeed, StepNumber, learningRate, weightDecay, samples);
        var trainable = TrainableSet.Select(model.Weights, filter);
        var sgd = new ZerothOrderSgd(trainable, Eps, weightDecay, RunSeed, samples);
        int recorded = 0;
        var records = sgd.Step(StepNumber, learningRate, () => ReferenceWeights.Loss(reference.ReadBack()), r =>
        {
            // The trajectory line is written here: the weights must still be at the −ε point, the update not yet applied.
            AssertBitsEqual(reference.ReadBack(), expected[recorded].MinusPoint, $"weights when sample {r.Sample} is recorded");
            recorded++;
        });

        AssertBitsEqual(reference.ReadBack(), reference.Values, "weights after the step");
        Assert.That(records, Has.Count.EqualTo(samples));
        for (int q = 0; q < samples; q++)
        {
            var (r, e) = (records[q], expected[q]);
            Assert.That((r.Step, r.Sample, r.Seed), Is.EqualTo((StepNumber, q, e.Seed)), $"sample {q}: step, sample, seed");
            // Equal losses (bit for bit) follow from equal weights; g is then the same double expression of them.
            Assert.That((r.LossPlus, r.LossMinus, r.ProjectedGradient), Is.EqualTo((e.LossPlus, e.LossMinus, e.ProjectedGradient)), $"sample {q}: L+, L−, g");
            Assert.That(r.LearningRate, Is.EqualTo(learningRate / samples), $"sample {q}: η/n");
            Assert.That(r.Eps, Is.EqualTo(Eps));
        }
        Assert.That(recorded, Is.EqualTo(samples));
        Assert.That(expected.Select(e => e.ProjectedGradient), Has.All.Not.EqualTo(0.0), "a zero g would leave the update untested");
    }

    [Test]
    public void TrainableTensorsAreInOrdinalNameOrderWithCumulativeFirstIndices()
    {
        // Eleven layers: in ordinal order "layers.10" comes before "layers.2", unlike the order of the layers.
        string model = Path.Combine(_folder.Path, "eleven-layers");
        SyntheticCheckpoint.Write(model, TinyModel.OptConfig(vocabulary: 7, hidden: 4, layers: 11, ffn: 4, heads: 1, positions: 4), DType.F32, seed: 3);
        using var backend = new CpuBackend();
        using var loaded = Transformer.Load(model, backend);
        var names = TinyModel.StoredTensorNames(model).Order(StringComparer.Ordinal).ToArray();
        Assert.That(Array.IndexOf(names, "model.decoder.layers.10.fc1.weight"), Is.LessThan(Array.IndexOf(names, "model.decoder.layers.2.fc1.weight")));

        var set = TrainableSet.Select(loaded.Weights, nameFilter: null);

        Assert.That(set.Tensors.Select(t => t.Parameter.Name), Is.EqualTo(names));
        ulong first = 0;
        foreach (var t in set.Tensors)
        {
            Assert.That(t.FirstIndex, Is.EqualTo(first), t.Parameter.Name);
            Assert.That(t.TakesWeightDecay, Is.EqualTo(ReferenceWeights.TakesWeightDecay(t.Parameter.Name)), t.Parameter.Name);
            first += (ulong)t.Parameter.Tensor.ElementCount;
        }
        Assert.That(set.ElementCount, Is.EqualTo((long)first));
    }

    [Test]
    public void AFilterThatMatchesNothingOrDoesNotParseIsAnError()
    {
        using var backend = new CpuBackend();
        using var model = Transformer.Load(_model, backend);
        Assert.That(() => TrainableSet.Select(model.Weights, "no_such_tensor"),
            Throws.InstanceOf<MeZO.Engine.InvalidInputException>().With.Message.Contains("matches no parameter"));
        Assert.That(() => TrainableSet.Select(model.Weights, "fc1("),
            Throws.InstanceOf<MeZO.Engine.InvalidInputException>().With.Message.Contains("not a valid regular expression"));
    }

    [Test]
    public void ANonFiniteLossStopsTheStepBeforeItIsRecordedOrApplied()
    {
        using var backend = new CpuBackend();
        using var model = Transformer.Load(_model, backend);
        var sgd = new ZerothOrderSgd(TrainableSet.Select(model.Weights, null), Eps, weightDecay: 0, RunSeed, samples: 2);
        int calls = 0, recorded = 0;

        // Sample 0 is fine; sample 1's L− is NaN.
        Assert.That(() => sgd.Step(StepNumber, 0.01, () => ++calls == 4 ? double.NaN : 1.0 / calls, _ => recorded++),
            Throws.InstanceOf<NonFiniteLossException>()
                .With.Property(nameof(NonFiniteLossException.Step)).EqualTo(StepNumber)
                .And.Message.StartsWith($"the loss became non-finite at step {StepNumber} (L+ = 0.3333333333333333, L− = NaN)"));
        Assert.That(recorded, Is.EqualTo(1), "only the finite sample reaches the trajectory");
    }

    private static void AssertBitsEqual(IReadOnlyList<float[]> actual, IReadOnlyList<float[]> expected, string what)
    {
        for (int k = 0; k < expected.Count; k++)
        {
            int at = ParameterValues.FirstBitDifference(actual[k], expected[k]);
            if (at >= 0) Assert.Fail($"{what}: tensor {k}, element {at}: {actual[k][at]:R} but the reference has {expected[k][at]:R}");
        }
    }

    /// <summary>What the reference step produced for one sample.</summary>
    private sealed record ExpectedSample(ulong Seed, double LossPlus, double LossMinus, double ProjectedGradient, float[][] MinusPoint);

    /// <summary>
    /// Host copies of every parameter, in the order of the names in the checkpoint's header sorted ordinally, updated by
    /// DESIGN §3's step one float32 operation at a time.
    /// </summary>
    private sealed class ReferenceWeights
    {
        private readonly Tensor[] _tensors;
        private readonly string[] _names;
        private readonly bool[] _trainable;
        private readonly ulong[] _first;
        private readonly DType _type;

        public ReferenceWeights(string modelDirectory, ModelWeights weights, DType type, string? filter, Random random)
        {
            _type = type;
            _names = TinyModel.StoredTensorNames(modelDirectory).Order(StringComparer.Ordinal).ToArray();
            _tensors = _names.Select(weights.Get).ToArray();
            _trainable = _names.Select(n => filter is null || Regex.IsMatch(n, filter)).ToArray();
            _first = new ulong[_names.Length];
            ulong index = 0;
            for (int k = 0; k < _names.Length; k++)
            {
                _first[k] = index;
                if (_trainable[k]) index += (ulong)_tensors[k].ElementCount;
            }
            // Random values everywhere (biases and norm weights too, so that decaying them would show), stored in the
            // model's dtype; the quadratic loss's minimum is elsewhere, so g is far from zero.
            Values = _tensors.Select(t => Enumerable.Range(0, (int)t.ElementCount)
                .Select(_ => ParameterValues.RoundTo(type, (float)(random.NextDouble() - 0.5))).ToArray()).ToArray();
            for (int k = 0; k < _tensors.Length; k++) ParameterValues.Write(_tensors[k], Values[k]);
        }

        public float[][] Values { get; }

        /// <summary>DESIGN §3: no weight decay for biases and norm weights (OPT names its norms "...layer_norm").</summary>
        public static bool TakesWeightDecay(string name) => !name.EndsWith(".bias", StringComparison.Ordinal) && !name.Contains("layer_norm");

        public float[][] ReadBack() => _tensors.Select(ParameterValues.Read).ToArray();

        /// <summary>Σ c_j (θ_j − a_j)² over every parameter in canonical order, in double: a smooth loss of all weights.</summary>
        public static double Loss(IReadOnlyList<float[]> values)
        {
            double loss = 0;
            long j = 0;
            foreach (float[] tensor in values)
                foreach (float w in tensor)
                {
                    double d = w - 0.05 * Math.Sin(j);
                    loss += (1 + j % 5) * d * d;
                    j++;
                }
            return loss;
        }

        public IReadOnlyList<ExpectedSample> Step(ulong runSeed, long step, double learningRate, double weightDecay, int samples)
        {
            var result = new List<ExpectedSample>();
            float eps = (float)Eps, eta = (float)(learningRate / samples);
            for (int q = 0; q < samples; q++)
            {
                ulong seed = ReferenceNoise.StepSeed(runSeed, step, (uint)q);
                ForEachTrainable(seed, (w, z, _) => w + eps * z);
                double lossPlus = Loss(Values);
                ForEachTrainable(seed, (w, z, _) => w + (-2 * eps) * z);
                double lossMinus = Loss(Values);
                var minusPoint = Values.Select(v => (float[])v.Clone()).ToArray();
                double g = (lossPlus - lossMinus) / (2 * Eps);
                float gradientStep = eta * (float)g;
                ForEachTrainable(seed, (w, z, decays) =>
                {
                    float decay = 1f - eta * (decays ? (float)weightDecay : 0f);
                    return (w + eps * z) * decay - gradientStep * z;
                });
                result.Add(new ExpectedSample(seed, lossPlus, lossMinus, g, minusPoint));
            }
            return result;
        }

        /// <summary>w = f(w, z) for every trainable element, in float32, rounded once to the storage dtype.</summary>
        private void ForEachTrainable(ulong seed, Func<float, float, bool, float> f)
        {
            for (int k = 0; k < _names.Length; k++)
            {
                if (!_trainable[k]) continue;
                bool decays = TakesWeightDecay(_names[k]);
                float[] v = Values[k];
                for (int j = 0; j < v.Length; j++)
                    v[j] = ParameterValues.RoundTo(_type, f(v[j], ReferenceNoise.Z(seed, _first[k] + (ulong)j), decays));
            }
        }
    }
}
