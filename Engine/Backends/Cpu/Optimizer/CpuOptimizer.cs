using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Optimizer;

/// <summary>
/// The CPU's first-order updates (<see cref="IOptimizerOps"/>), over both cores in chunks. Each element's arithmetic is
/// the same sequence of float32 roundings in the vector loop and its scalar tail (no fused multiply-add), so the result
/// does not depend on where a chunk boundary falls.
/// </summary>
internal static unsafe class CpuOptimizer
{
    private const int Chunk = 1 << 14;

    /// <summary>Σ x² in double: float32 partial sums of fixed 16 Ki-element blocks, added in block order (deterministic on any core count).</summary>
    public static double SumOfSquares(Tensor t)
    {
        float* x = (float*)t.Address;
        long n = t.ElementCount, blocks = (n + Chunk - 1) / Chunk;
        var partial = new double[blocks];
        CpuParallel.For(blocks, 8, (b0, b1) =>
        {
            for (long b = b0; b < b1; b++)
            {
                long start = b * Chunk;
                partial[b] = TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(x + start, (int)Math.Min(Chunk, n - start)));
            }
        });
        double sum = 0;
        foreach (double p in partial) sum += p;
        return sum;
    }

    public static void Widen(Tensor parameter, Tensor master)
    {
        float* m = (float*)master.Address;
        CpuParallel.For(parameter.ElementCount, Chunk, (s, e) =>
        {
            for (long start = s; start < e; start += Chunk)
                CpuConvert.Load(parameter.Address, parameter.DType, start, new Span<float>(m + start, (int)Math.Min(Chunk, e - start)));
        });
    }

    public static void Scale(Tensor t, float factor)
    {
        float* x = (float*)t.Address;
        CpuParallel.For(t.ElementCount, Chunk, (s, e) =>
        {
            var span = new Span<float>(x + s, (int)(e - s));
            TensorPrimitives.Multiply(span, factor, span);
        });
    }

    public static void Sgd(Tensor parameter, Tensor? master, Tensor grad, float learningRate, float weightDecay)
    {
        float* g = (float*)grad.Address;
        Chunks(parameter, master, (theta, start) =>
        {
            var gs = new ReadOnlySpan<float>(g + start, theta.Length);
            SgdRun(theta, gs, learningRate, weightDecay);
        });
    }

    public static void AdamW(Tensor parameter, Tensor? master, Tensor grad, Tensor m, Tensor v, AdamWFactors f)
    {
        float* g = (float*)grad.Address, mp = (float*)m.Address, vp = (float*)v.Address;
        Chunks(parameter, master, (theta, start) =>
            AdamWRun(theta, new ReadOnlySpan<float>(g + start, theta.Length), new Span<float>(mp + start, theta.Length),
                new Span<float>(vp + start, theta.Length), f));
    }

    /// <summary>
    /// Runs <paramref name="step"/> over the float32 values that take the step (the master's, or a float32 parameter's
    /// own) chunk by chunk; a 16-bit parameter's chunk is then the master's rounded to nearest.
    /// </summary>
    private static void Chunks(Tensor parameter, Tensor? master, ChunkStep step)
    {
        var owner = master ?? parameter;
        float* theta = (float*)owner.Address;
        CpuParallel.For(parameter.ElementCount, Chunk, (s, e) =>
        {
            for (long start = s; start < e; start += Chunk)
            {
                var span = new Span<float>(theta + start, (int)Math.Min(Chunk, e - start));
                step(span, start);
                if (master is not null) CpuConvert.Store(span, parameter.Address, parameter.DType, start);
            }
        });
    }

    private delegate void ChunkStep(Span<float> theta, long start);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SgdRun(Span<float> theta, ReadOnlySpan<float> g, float lr, float wd)
    {
        int n = theta.Length, i = 0;
        fixed (float* t = theta, gp = g)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var vlr = Vector512.Create(lr);
                var vwd = Vector512.Create(wd);
                for (; i + 16 <= n; i += 16)
                {
                    var p = Vector512.Load(t + i);
                    var d = Vector512.Load(gp + i);
                    if (wd != 0) d += vwd * p;
                    (p - vlr * d).Store(t + i);
                }
            }
            for (; i < n; i++)
            {
                float d = gp[i];
                if (wd != 0) d += wd * t[i];
                t[i] -= lr * d;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamWRun(Span<float> theta, ReadOnlySpan<float> g, Span<float> m, Span<float> v, AdamWFactors f)
    {
        int n = theta.Length, i = 0;
        fixed (float* t = theta, gp = g, mp = m, vp = v)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var decay = Vector512.Create(f.Decay);
                var b1 = Vector512.Create(f.Beta1);
                var c1 = Vector512.Create(f.OneMinusBeta1);
                var b2 = Vector512.Create(f.Beta2);
                var c2 = Vector512.Create(f.OneMinusBeta2);
                var eps = Vector512.Create(f.Eps);
                var stepSize = Vector512.Create(f.StepSize);
                var bc2 = Vector512.Create(f.BiasCorrection2Sqrt);
                for (; i + 16 <= n; i += 16)
                {
                    var gi = Vector512.Load(gp + i);
                    var p = Vector512.Load(t + i) * decay;
                    var mi = b1 * Vector512.Load(mp + i) + c1 * gi;
                    var vi = b2 * Vector512.Load(vp + i) + c2 * gi * gi;
                    var denom = Vector512.Sqrt(vi) / bc2 + eps;
                    mi.Store(mp + i);
                    vi.Store(vp + i);
                    (p - stepSize * (mi / denom)).Store(t + i);
                }
            }
            for (; i < n; i++)
            {
                float gi = gp[i];
                float p = t[i] * f.Decay;
                float mi = f.Beta1 * mp[i] + f.OneMinusBeta1 * gi;
                float vi = f.Beta2 * vp[i] + f.OneMinusBeta2 * gi * gi;
                float denom = MathF.Sqrt(vi) / f.BiasCorrection2Sqrt + f.Eps;
                mp[i] = mi;
                vp[i] = vi;
                t[i] = p - f.StepSize * (mi / denom);
            }
        }
    }
}
