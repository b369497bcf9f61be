using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Planning;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda.Planning;

/// <summary>
/// A MeZO step of each tiny architecture recorded on the plan backend (no GPU, no weights read): every layer makes the
/// products its spec implies, every parameter is updated once, and the totals are the sums of the launches.
/// </summary>
public class CudaPlanTests
{
    private const int Batch = 2, Length = 5;

    private static StepPlan PlanStep(TinyVariant variant, bool cublasLt, out ArchitectureSpec spec, out int parameters)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        using var plan = CudaPlan.Create(GpuSpec.A100, new CudaBackendOptions { UseCublasLt = cublasLt });
        using var model = Transformer.FromConfig(checkpoint.Folder, plan.Backend, DType.BF16);
        spec = model.Spec;
        parameters = model.Weights.Parameters.Count;
        var tokens = TokenBatch.Pack(
            Enumerable.Range(0, Batch).Select(b => (IReadOnlyList<int>)Enumerable.Range(0, Length).Select(t => (b + 3 * t) % checkpoint.VocabSize).ToArray()).ToArray(),
            PaddingSide.Right);
        int[] rows = [.. Enumerable.Range(0, Batch).SelectMany(b => Enumerable.Range(0, Length - 1).Select(t => tokens.Row(b, t)))];
        int[] targets = [.. Enumerable.Range(0, Batch).SelectMany(b => Enumerable.Range(1, Length - 1).Select(t => tokens.Ids[b * Length + t]))];
        var plus = new float[rows.Length];
        var minus = new float[rows.Length];
        using var ws = model.CreateWorkspace(Batch, Length);
        using var minusWs = model.CreateLockstepWorkspace(Batch, Length);
        var step = new MezoStep(TrainableSet.Select(model.Weights, nameFilter: null), eps: 1e-3, weightDecay: 0);
        return plan.Record(model, () =>
        {
            var (_, g) = step.Evaluate(1, p =>
            {
                model.ScoreTokensLockstep(ws, minusWs, tokens, rows, targets, p, plus, minus);
                return new LossPair(0, 0);
            });
            step.Update(1, learningRate: 0, g);
            plan.Backend.Synchronize();
        });
    }

    /// <summary>Each stream (L+ and L−) runs every projection of a layer once.</summary>
    private static int ProductsPerLayer(ArchitectureSpec spec) =>
        2 * ((spec.FusedQkv ? 1 : 3) + 1 + (spec.Mlp == MlpKind.Gated ? 3 : 2));

    [Test]
    public void EachLayerRunsTheProductsItsSpecImpliesOnCublasLt([ValueSource(typeof(TinyCheckpoints), nameof(TinyCheckpoints.AllVariants))] TinyVariant variant)
    {
        var plan = PlanStep(variant, cublasLt: true, out var spec, out _);

        for (int l = 0; l < spec.NumLayers; l++)
            Assert.That(plan.InLayer(l).Count(p => p.IsProduct), Is.EqualTo(ProductsPerLayer(spec)), $"layer {l}");
        Assert.That(plan.InLayer(PlannedLaunch.OutsideLayers).Count(p => p.IsProduct), Is.GreaterThanOrEqualTo(2), "the LM head, for each stream");
    }

    [Test]
    public void WithoutCublasLtTheSameProductsRunOnTheGemmKernels()
    {
        var plan = PlanStep(TinyVariant.LlamaTied, cublasLt: false, out var spec, out _);

        Assert.That(plan.Launches.Where(p => p.IsProduct), Is.Empty);
        for (int l = 0; l < spec.NumLayers; l++)
            Assert.That(plan.InLayer(l).Count(p => p.Name.StartsWith("mezo_gemm_", StringComparison.Ordinal)), Is.EqualTo(ProductsPerLayer(spec)));
    }

    [Test]
    public void EveryParameterIsUpdatedOnce([Values(TinyVariant.OptPreLayerNorm, TinyVariant.Qwen2)] TinyVariant variant)
    {
        var plan = PlanStep(variant, cublasLt: true, out _, out int parameters);

        Assert.That(plan.Launches.Count(p => p.Name.StartsWith("mezo_update_bf16_", StringComparison.Ordinal)), Is.EqualTo(parameters));
    }

    [Test]
    public void TheStepsTotalsAreTheSumsOfItsLaunchesAndOfItsLayers()
    {
        var plan = PlanStep(TinyVariant.OptPreLayerNorm, cublasLt: true, out var spec, out _);
        var sections = Enumerable.Range(0, spec.NumLayers).Append(PlannedLaunch.OutsideLayers).Select(plan.InLayer).ToArray();

        Assert.That(plan.BytesRead, Is.EqualTo(plan.Launches.Sum(p => p.Cost.BytesRead)));
        Assert.That(plan.BytesWritten, Is.EqualTo(plan.Launches.Sum(p => p.Cost.BytesWritten)));
        Assert.That(plan.Seconds, Is.EqualTo(plan.Launches.Sum(p => Math.Max(p.Cost.Bytes / plan.Gpu.MemoryBytesPerSecond,
            p.Cost.Flops / plan.Gpu.Peak(p.Cost.Pipe)))).Within(1e-12));
        Assert.That(sections.Sum(s => s.Count), Is.EqualTo(plan.Launches.Count));
        Assert.That(sections.Sum(s => plan.SecondsOf(s)), Is.EqualTo(plan.Seconds).Within(1e-12));
        Assert.That(sections.Sum(s => s.Sum(p => p.Cost.Flops)), Is.EqualTo(plan.Flops).Within(plan.Flops * 1e-12));
    }

    /// <summary>
    /// Unperturbed, 16-bit weights are multiplied as they are stored, on the 16-bit tensor cores: in bf16 compute (the
    /// CUDA default for bf16 weights) x is already bf16 and nothing is converted; in float32 compute x is rounded to bf16
    /// for cuBLASLt (convert.cu), or read by gemm_mma.cu without it.
    /// </summary>
    [TestCase(true, "cublasLt matmul", DType.BF16)]
    [TestCase(false, "mezo_gemm_mma_bf16", DType.BF16)]
    [TestCase(true, "cublasLt matmul", DType.F32)]
    [TestCase(false, "mezo_gemm_mma_bf16", DType.F32)]
    public void AForwardPassOfBf16WeightsMultipliesOnTheHalfTensorCores(bool cublasLt, string product, DType compute)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Mistral);
        using var plan = CudaPlan.Create(GpuSpec.H100, new CudaBackendOptions { UseCublasLt = cublasLt });
        using var model = Transformer.FromConfig(checkpoint.Folder, plan.Backend, DType.BF16, compute);
        using var ws = model.CreateWorkspace(1, Length);
        var tokens = TokenBatch.Pack([Enumerable.Range(1, Length).ToArray()], PaddingSide.Right);
        int[] rows = [.. Enumerable.Range(0, Length - 1)];
        int[] targets = [.. Enumerable.Range(2, Length - 1)];

        var forward = plan.Record(model, () => model.ScoreTokens(ws, tokens, rows, targets, new float[rows.Length]));

        var products = forward.Launches.Where(l => l.Name == product).ToArray();
        for (int l = 0; l < model.Spec.NumLayers; l++)
            Assert.That(forward.InLayer(l).Count(p => p.Name == product), Is.EqualTo(ProductsPerLayer(model.Spec) / 2), "one stream");
        Assert.That(forward.InLayer(PlannedLaunch.OutsideLayers).Count(p => p.Name == product), Is.GreaterThanOrEqualTo(1), "the LM head");
        Assert.That(products.Select(p => p.Cost.Pipe).Distinct(), Is.EqualTo(new[] { ComputePipe.HalfTensor }));
        Assert.That(forward.Launches.Any(l => l.Name == "mezo_convert"), Is.EqualTo(cublasLt && compute == DType.F32));
    }

    /// <summary>
    /// An OPT layer's ReLU and both residual adds travel with their products (LinearEpilogue) and are fused into them, on
    /// cuBLASLt (RELU_BIAS, β = 1 into the residual) and on the NVRTC kernels (their epilogue): no element-wise kernel runs
    /// for them, and the products are those the spec implies.
    /// </summary>
    [Test]
    public void AnOptLayersReluAndResidualAddsFuseIntoTheirProducts([Values] bool cublasLt)
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm);
        using var plan = CudaPlan.Create(GpuSpec.H100, new CudaBackendOptions { UseCublasLt = cublasLt });
        using var model = Transformer.FromConfig(checkpoint.Folder, plan.Backend, DType.BF16);
        using var ws = model.CreateWorkspace(1, Length);
        var tokens = TokenBatch.Pack([Enumerable.Range(1, Length).ToArray()], PaddingSide.Right);
        int[] rows = [.. Enumerable.Range(0, Length - 1)];
        int[] targets = [.. Enumerable.Range(2, Length - 1)];

        var forward = plan.Record(model, () => model.ScoreTokens(ws, tokens, rows, targets, new float[rows.Length]));

        for (int l = 0; l < model.Spec.NumLayers; l++)
        {
            Assert.That(forward.InLayer(l).Count(p => p.Name is "mezo_relu" or "mezo_add"), Is.Zero, $"layer {l}: ReLU and residual adds");
            Assert.That(forward.InLayer(l).Count(p => p.Name == (cublasLt ? "cublasLt matmul" : "mezo_gemm_mma_bf16")),
                Is.EqualTo(ProductsPerLayer(model.Spec) / 2), $"layer {l}: one stream's products");
        }
    }

    [Test]
    public void AModelFromItsConfigHasEveryParameterOfItsWeightPlan()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.Gpt2);
        using var plan = CudaPlan.Create(GpuSpec.H200);
        using var model = Transformer.FromConfig(checkpoint.Folder, plan.Backend, DType.F16);

        var expected = WeightPlan.For(model.Spec);
        Assert.That(model.Weights.Parameters.Select(p => p.Name), Is.EquivalentTo(expected.Select(w => w.Name)));
        Assert.That(model.Weights.ParameterCount, Is.EqualTo(expected.Sum(w => w.ElementCount)));
        Assert.That(model.Weights.Parameters.Select(p => p.Tensor.DType).Distinct(), Is.EqualTo(new[] { DType.F16 }));
    }
}
