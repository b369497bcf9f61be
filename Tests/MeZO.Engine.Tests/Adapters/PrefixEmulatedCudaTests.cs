using MeZO.Engine.Models.Generation;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Backends.Cuda.Emulation;
using MeZO.Engine.Tests.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using MeZO.Verification;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Adapters;

/// <summary>
/// A model with a prefix attached on CudaBackend, run on the host emulation of its kernels, against the same model and
/// prefix on the CPU backend: logits, MeZO's lockstep pair over prompt_embeddings, an update of it, and greedy
/// generation through the KV cache behind the prefix slots. The CUDA side copies the prefix into its own cache layout
/// and perturbs it with its own kernels.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
[TestFixture]
public sealed class PrefixEmulatedCudaTests
{
    private const ulong Seed = 0xC0DA_0000_2222ul;
    private const int Tokens = 4;

    /// <summary>
    /// ModelParity's float32 logit tolerance: per-op differences in summation order compound through the residual
    /// stream, about L·2⁻²² relative to the largest logit; 1e-4 leaves room for that.
    /// </summary>
    private const double RelativeTolerance = 1e-4;

    private CpuBackend _cpu = null!;
    private CudaBackend _emulated = null!;

    [OneTimeSetUp]
    public void Open()
    {
        _cpu = new CpuBackend();
        var options = new CudaBackendOptions { Precision = MatmulPrecision.Float32, Noise = NoiseArithmetic.Exact, UseCublasLt = false };
        _emulated = new CudaBackend(new EmulatedRuntime(80), options, new MemoryReport());
    }

    [OneTimeTearDown]
    public void Close()
    {
        _emulated?.Dispose();
        _cpu?.Dispose();
    }

    [TestCase(TinyVariant.LlamaTied, TestName = "Llama, GQA (4 heads, 2 KV heads)")]
    [TestCase(TinyVariant.Mistral, TestName = "Mistral, one KV head")]
    [TestCase(TinyVariant.OptPreLayerNorm, TestName = "OPT")]
    public void LogitsScoresAndAnUpdateOfThePrefixMatchTheCpuBackend(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        var (batch, rows, ids) = LoraReference.Batch(checkpoint.VocabSize, PaddingSide.Left);
        float[] values;
        using (var model = Transformer.Load(checkpoint.Folder, _cpu))
        {
            // Values of a cache's scale: keys and values of the model's own activations are O(1), so are these.
            var random = new Random(14);
            values = new float[Tokens * checkpoint.Options.Layers * 2 * model.Spec.KvWidth];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(2 * random.NextDouble() - 1);
        }

        (float[] Logits, float[] Plus, float[] Minus, float[] Plain, float[] Updated) Run(IBackend backend)
        {
            using var model = Transformer.Load(checkpoint.Folder, backend);
            var plain = ParityRuns.EngineLogits(model, batch, rows);
            using var prefix = PrefixAdapter.Create(model.Spec, backend, Tokens);
            prefix.Upload(values);
            model.Prefix = prefix;
            var logits = ParityRuns.EngineLogits(model, batch, rows);
            var trainable = TrainableSet.Of(prefix.Parameters);
            var plus = new float[rows.Length];
            var minus = new float[rows.Length];
            using (var plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length))
            using (var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length))
                model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, ids, new WeightPerturbation(trainable, Seed, 1e-2f), plus, minus);
            new MezoStep(trainable, 1e-2, weightDecay: 0).Update(Seed, learningRate: 1e-2, projectedGradient: 3.0);
            var updated = HostValues.Read(prefix.Embeddings);
            return (logits, plus, minus, plain, updated);
        }

        var cpu = Run(_cpu);
        var gpu = Run(_emulated);
        double logitTolerance = RelativeTolerance * (1 + cpu.Logits.Max(v => Math.Abs(v)));
        for (int i = 0; i < cpu.Logits.Length; i++)
            if (Math.Abs(gpu.Logits[i] - cpu.Logits[i]) > logitTolerance)
                Assert.Fail($"{variant}: logit {i % checkpoint.VocabSize} of row {rows[i / checkpoint.VocabSize]} is {gpu.Logits[i]} on the emulated GPU, {cpu.Logits[i]} on the CPU");
        Assert.That(cpu.Logits.Zip(cpu.Plain, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(100 * logitTolerance), "the prefix changes the logits");
        // A log-probability moves by at most twice the logits' error (the target's logit and the log-sum-exp).
        Assert.That(gpu.Plus, Is.EqualTo(cpu.Plus).Within(2 * logitTolerance), "+ε scores");
        Assert.That(gpu.Minus, Is.EqualTo(cpu.Minus).Within(2 * logitTolerance), "−ε scores");
        Assert.That(cpu.Plus, Is.Not.EqualTo(cpu.Minus));
        // Both apply θ − ηg·z with the same z (exact noise): at most an FMA's rounding apart.
        for (int i = 0; i < cpu.Updated.Length; i++)
            Assert.That(gpu.Updated[i], Is.EqualTo(cpu.Updated[i]).Within(1e-6 * (1 + Math.Abs(cpu.Updated[i]))), $"prompt_embeddings element {i}");
        Assert.That(cpu.Updated, Is.Not.EqualTo(values), "the update moved the prefix");
    }

    [TestCase(TinyVariant.LlamaTied, TestName = "Llama, GQA: generation")]
    [TestCase(TinyVariant.OptPreLayerNorm, TestName = "OPT: generation")]
    public void GreedyGenerationWithAPrefixFromActivationsEqualsTheOracleAfterThePrefixTokens(TinyVariant variant)
    {
        const int newTokens = 6;
        int[] x = [23, 7, 61, 2];
        using var checkpoint = TinyCheckpoints.Create(variant);
        int[][] prompts = ParityRuns.RandomSequences(checkpoint.VocabSize, seed: 13, 5, 1, 3);
        var oracle = checkpoint.Oracle();
        var expected = new int[prompts.Length][];
        for (int p = 0; p < prompts.Length; p++)
        {
            expected[p] = ParityRuns.NaiveGreedy(oracle, [.. x, .. prompts[p]], newTokens, out double margin);
            Assert.That(margin, Is.GreaterThan(ParityRuns.RelativeTolerance), $"prompt {p} has a near-tie, choose another");
        }

        foreach (IBackend backend in new IBackend[] { _cpu, _emulated })
        {
            using var model = Transformer.Load(checkpoint.Folder, backend);
            using var prefix = PrefixAdapter.FromActivations(model, x);
            model.Prefix = prefix;
            var generated = new TokenGenerator(model).Generate(prompts, newTokens, endOfSequence: null);
            for (int p = 0; p < prompts.Length; p++)
                Assert.That(generated[p], Is.EqualTo(expected[p]), $"{backend.GetType().Name}, prompt {p}: the oracle over X ++ prompt");
        }
    }
}
