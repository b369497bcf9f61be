using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;
using MeZO.Verification.Measurement;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Benchmarks;

/// <summary>
/// The CPU linear layer on OPT-125m's shapes (hidden 768, MLP 3072, vocabulary 50272) with F32 and BF16 weights, as
/// nn.Linear stores them. Run: <c>dotnet run -c Release --project tools/MeZO.Benchmarks -- --filter *MatMul*</c>.
/// The GFLOP/s column is 2·M·N·K over the mean; "% of peak" divides it by <see cref="CpuPeak"/>, measured in the host
/// process when the summary is printed (for a ratio taken side by side on a busy machine, use `report`).
/// </summary>
[Config(typeof(MatMulConfig))]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class MatMulBenchmarks
{
    private CpuBackend _backend = null!;
    private Tensor _x = null!, _weight = null!, _bias = null!, _output = null!;

    public static IEnumerable<LinearShape> Shapes =>
    [
        new("attn", 256, 768, 768), new("fc1", 256, 3072, 768), new("fc2", 256, 768, 3072),
        new("attn", 512, 768, 768), new("fc1", 512, 3072, 768), new("fc2", 512, 768, 3072),
        new("LM head", 16, 50272, 768),
    ];

    [ParamsSource(nameof(Shapes))]
    public LinearShape Shape { get; set; } = null!;

    [Params(DType.F32, DType.BF16)]
    public DType WeightType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _backend = new CpuBackend();
        _x = _backend.Allocate(new TensorShape(Shape.M, Shape.K), DType.F32, MemoryCategory.Activations, "x");
        _weight = _backend.Allocate(new TensorShape(Shape.N, Shape.K), WeightType, MemoryCategory.Weights, "weight");
        _bias = _backend.Allocate(new TensorShape(Shape.N), WeightType, MemoryCategory.Weights, "bias");
        _output = _backend.Allocate(new TensorShape(Shape.M, Shape.N), DType.F32, MemoryCategory.Activations, "output");
        var random = new Random(1);
        foreach (var t in new[] { _x, _weight, _bias })
        {
            var values = new float[t.ElementCount];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
            CpuConvert.Store(values, t.Address, t.DType, 0);
        }
    }

    [Benchmark]
    public void Linear() => _backend.Linear(_x, _weight, weightTransposed: false, _bias, _output);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _x, _weight, _bias, _output }) t.Dispose();
        _backend.Dispose();
    }
}

/// <summary>One linear layer's shape: output(M,N) = x(M,K)·Wᵀ.</summary>
public sealed record LinearShape(string Layer, int M, int N, int K)
{
    public double Flops => 2.0 * M * N * K;
    public override string ToString() => $"{Layer} {M}x{N}x{K}";
}

internal sealed class MatMulConfig : ManualConfig
{
    public MatMulConfig()
    {
        AddColumn(new ThroughputColumn(fractionOfPeak: false), new ThroughputColumn(fractionOfPeak: true));
    }
}

/// <summary>GFLOP/s of a <see cref="MatMulBenchmarks"/> case, or that as a fraction of the machine's FMA peak.</summary>
internal sealed class ThroughputColumn(bool fractionOfPeak) : IColumn
{
    private static readonly Lazy<double> Peak = new(() => Enumerable.Range(0, 5).Max(_ => CpuPeak.Measure().GigaflopsPerSecond));

    public string Id => nameof(ThroughputColumn) + fractionOfPeak;
    public string ColumnName => fractionOfPeak ? "% of peak" : "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => fractionOfPeak ? 1 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => fractionOfPeak ? "GFLOP/s over the all-core FMA peak (CpuPeak)" : "2·M·N·K / mean time";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null || benchmarkCase.Parameters[nameof(MatMulBenchmarks.Shape)] is not LinearShape shape) return "-";
        double gflops = shape.Flops / statistics.Mean; // mean in ns, so flop/ns = GFLOP/s
        return fractionOfPeak ? $"{gflops / Peak.Value:P1}" : $"{gflops:F1}";
    }
}
