using System.Text.RegularExpressions;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Mezo;
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
/// its own float32 arithmetic one operation at a time, and the engine's stochastic rounding for bfloat16 (itself
/// checked against an independent reference in the engine's tests). The loss is a quadratic of the weights read back
/// from the backend plus the perturbation the optimizer asks for (its seed, scale and each tensor's z offset), so the
/// perturbations and the update all show in L+, L− and g.
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
        var records = sgd.Step(StepNumber, learningRate,
            plus => new LossPair(ReferenceWeights.Loss(reference.Perturbed(plus)), ReferenceWeights.Loss(reference.Perturbed(MezoStep.Minus(plus)))),
            r =>
            {
                // The trajectory lines are written here: the weights must still be the step's θ, no update yet applied.
                AssertBitsEqual(reference.ReadBack(), expected[recorded].Before, $"weights when sample {r.Sample} is recorded");
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
        var before = model.Weights.Parameters.Select(p => ParameterValues.Read(p.Tensor)).ToArray();

        // Sample 0 is fine (L+ = 1, L− = 1/2); sample 1's L− is NaN, so no sample of the step reaches the trajectory.
        Assert.That(() => sgd.Step(StepNumber, 0.0, _ => { calls += 2; return new LossPair(1.0 / (calls - 1), calls == 4 ? double.NaN : 1.0 / calls); }, _ => recorded++),
            Throws.InstanceOf<NonFiniteLossException>()
                .With.Property(nameof(NonFiniteLossException.Step)).EqualTo(StepNumber)
                .And.Message.StartsWith($"the loss became non-finite at step {StepNumber} (L+ = 0.3333333333333333, L− = NaN)"));
        Assert.That(recorded, Is.EqualTo(0), "a step's records reach the trajectory all or none");
        Assert.That(calls, Is.EqualTo(4), "both samples were evaluated, at the step's θ");
        Assert.That(model.Weights.Parameters.Select(p => ParameterValues.Read(p.Tensor)).ToArray(), Is.EqualTo(before));
    }

    [Test]
    public void AnUpdatePastTheLargestBFloat16IsAUserErrorNamingStepAndTensor()
    {
        using var backend = new CpuBackend();
        using var model = Transformer.Load(_model, backend, DType.BF16);
        var sgd = new ZerothOrderSgd(TrainableSet.Select(model.Weights, "fc1.weight"), Eps, weightDecay: 0, RunSeed, samples: 1);

        // g = 1e39 with η = 1: every update of fc1 lands beyond the largest bf16 (3.39e38).
        Assert.That(() => sgd.Step(StepNumber, 1.0, _ => new LossPair(1e36, -1e36), _ => { }),
            Throws.InstanceOf<WeightOverflowException>()
                .With.Property(nameof(WeightOverflowException.Step)).EqualTo(StepNumber)
                .And.Message.Contains("model.decoder.layers.0.fc1.weight")
                .And.Message.Contains("lower --lr"));
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
    private sealed record ExpectedSample(ulong Seed, double LossPlus, double LossMinus, double ProjectedGradient, float[][] Before);

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

        /// <summary>
        /// The weights read back from the backend as a forward pass under <paramref name="perturbation"/> sees them:
        /// w + scale·z in float32 on the tensors the perturbation names, with the z offset it gives for each.
        /// </summary>
        public float[][] Perturbed(WeightPerturbation perturbation)
        {
            var values = ReadBack();
            for (int k = 0; k < _names.Length; k++)
            {
                if (perturbation.NoiseOf(_tensors[k]) is not { } noise) continue;
                for (int j = 0; j < values[k].Length; j++)
                    values[k][j] += perturbation.Scale * ReferenceNoise.Z(noise.Seed, noise.FirstIndex + (ulong)j);
            }
            return values;
        }

        /// <summary>n-SPSA: every sample's L+ and L− at the step's θ, then each sample's update in sample order.</summary>
        public IReadOnlyList<ExpectedSample> Step(ulong runSeed, long step, double learningRate, double weightDecay, int samples)
        {
            var result = new List<ExpectedSample>();
            float eps = (float)Eps, eta = (float)(learningRate / samples);
            var before = Values.Select(v => (float[])v.Clone()).ToArray();
            for (int q = 0; q < samples; q++)
            {
                ulong seed = ReferenceNoise.StepSeed(runSeed, step, (uint)q);
                double lossPlus = Loss(PerturbedValues(seed, eps));
                double lossMinus = Loss(PerturbedValues(seed, -eps));
                result.Add(new ExpectedSample(seed, lossPlus, lossMinus, (lossPlus - lossMinus) / (2 * Eps), before));
            }
            foreach (var sample in result)
            {
                float gradientStep = eta * (float)sample.ProjectedGradient;
                for (int k = 0; k < _names.Length; k++)
                {
                    if (!_trainable[k]) continue;
                    float decay = 1f - eta * (TakesWeightDecay(_names[k]) ? (float)weightDecay : 0f);
                    float[] v = Values[k];
                    for (int j = 0; j < v.Length; j++)
                    {
                        ulong index = _first[k] + (ulong)j;
                        float updated = v[j] * decay - gradientStep * ReferenceNoise.Z(sample.Seed, index);
                        v[j] = _type == DType.F32 ? updated : ScalarStorage(StochasticRounding.Round(updated, _type, StochasticRounding.Draw(sample.Seed, index)));
                    }
                }
            }
            return result;
        }

        private float ScalarStorage(ushort bits) =>
            _type == DType.BF16 ? ScalarConversions.BFloat16ToSingle(bits) : ScalarConversions.HalfToSingle(bits);

        /// <summary>θ + scale·z on the trainable elements, in float32: what the perturbed forward passes compute with.</summary>
        private float[][] PerturbedValues(ulong seed, float scale)
        {
            var values = Values.Select(v => (float[])v.Clone()).ToArray();
            for (int k = 0; k < _names.Length; k++)
            {
                if (!_trainable[k]) continue;
                for (int j = 0; j < values[k].Length; j++) values[k][j] += scale * ReferenceNoise.Z(seed, _first[k] + (ulong)j);
            }
            return values;
        }
    }
}
