using MeZO.Engine.Models.Generation;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Backends.Cuda.Emulation;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Real checkpoints whose weights are damaged in memory after loading (past the load check, as a bad update or a
/// bit flip would): every log-probability of the forward pass must come out non-finite, never finite and silently
/// changed, on the CPU backend and on the CUDA kernels run by the host emulation; the reading-out methods then refuse.
/// </summary>
[Category("HostKernels")]
[Category(TestSpeed.Slow)]
[TestFixture("cpu")]
[TestFixture("cuda-emulated")]
public sealed class NonFiniteForwardTests(string backendName)
{
    // BOS, then ▁Once ▁upon ▁a ▁time in stories260K's vocabulary; valid ids for every model here.
    private static readonly int[] Ids = [1, 403, 407, 261, 378];

    private IBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = backendName == "cpu"
        ? new CpuBackend()
        : new CudaBackend(new EmulatedRuntime(80, null), new CudaBackendOptions(), new MemoryReport());

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    public enum Damage { NaNInQueryWeight, NaNInNormWeight, InfinityInNormWeight, NormWeightsTimes1e30 }

    // stories260K: RMSNorm, rotary, separate q_proj (F32). tiny-random-gpt2: LayerNorm, learned positions, fused
    // c_attn (F32). tiny-random-llama-fp16: F16 storage.
    [Test]
    public void EveryLogProbabilityIsNonFinite(
        [Values("stories260K", "tiny-random-gpt2", "tiny-random-llama-fp16")] string model, [Values] Damage damage)
    {
        using var transformer = Transformer.Load(SharedData.Path("models/" + model), _backend);
        var layer = transformer.Weights.Layers[0];
        switch (damage)
        {
            case Damage.NaNInQueryWeight:
                WriteElement(layer.Query ?? layer.FusedQkv!, 5, float.NaN);
                break;
            case Damage.NaNInNormWeight:
                WriteElement(layer.AttentionNorm, 3, float.NaN);
                break;
            case Damage.InfinityInNormWeight:
                WriteElement(layer.AttentionNorm, 3, float.PositiveInfinity);
                break;
            case Damage.NormWeightsTimes1e30:
                if (layer.AttentionNorm.DType != DType.F32) Assert.Ignore("1e30 is beyond F16; the F32 models cover it");
                var weights = new float[layer.AttentionNorm.ElementCount];
                _backend.Download<float>(layer.AttentionNorm, weights);
                for (int i = 0; i < weights.Length; i++) weights[i] *= 1e30f;
                _backend.Upload<float>(layer.AttentionNorm, weights);
                break;
        }

        float[] logProbs = Score(transformer);

        Assert.That(logProbs.Where(float.IsFinite), Is.Empty, $"log-probabilities {string.Join(", ", logProbs)}");
    }

    [Test]
    public void ReadingOutLogitsOfABrokenPassIsAUserErrorNamingTheModel()
    {
        string folder = SharedData.Path("models/stories260K");
        using var transformer = Transformer.Load(folder, _backend);
        WriteElement(transformer.Weights.Layers[2].Query!, 0, float.NaN);
        using var ws = transformer.CreateWorkspace(1, Ids.Length);
        var batch = TokenBatch.Pack([Ids], PaddingSide.Right);

        var e = Assert.Throws<NonFiniteForwardException>(() => transformer.LogitsAt(ws, batch, [Ids.Length - 1], new float[transformer.Spec.VocabSize]))!;
        Assert.That(e.Message, Does.StartWith(folder).And.Contain("non-finite"));
        Assert.Throws<NonFiniteForwardException>(() => new TokenGenerator(transformer).Generate([Ids], 2, endOfSequence: null));
    }

    private static float[] Score(Transformer model)
    {
        using var ws = model.CreateWorkspace(1, Ids.Length);
        var batch = TokenBatch.Pack([Ids], PaddingSide.Right);
        var logProbs = new float[Ids.Length - 1];
        model.ScoreTokens(ws, batch, Enumerable.Range(0, Ids.Length - 1).ToArray(), Ids[1..], logProbs);
        return logProbs;
    }

    /// <summary>Overwrites one element of a backend tensor in its own dtype (NaN and ±∞ exist in all three).</summary>
    private void WriteElement(Tensor t, long element, float value)
    {
        byte[] bytes = t.DType switch
        {
            DType.F32 => BitConverter.GetBytes(value),
            DType.F16 => BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)value)),
            DType.BF16 => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(value) >> 16)),
            _ => throw new ArgumentOutOfRangeException(nameof(t), t.DType, "not a weight dtype"),
        };
        _backend.Upload(t, element * t.DType.SizeOf(), bytes);
    }
}
