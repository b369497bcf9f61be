using MeZO.Engine.Tensors;
namespace MeZO.Engine.Backends.Cpu;

/// <summary>INTERIM: a plain triple loop, correct and slow, until the packed GEMM lands.</summary>
internal static unsafe class CpuMatMul
{
    public static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output)
    {
        int k = x.Shape[-1]; long m = x.Shape.Rows; int n = output.Shape[-1];
        var w = new float[weight.ElementCount]; CpuConvert.Load(weight.Address, weight.DType, 0, w);
        var b = new float[n]; if (bias is not null) CpuConvert.Load(bias.Address, bias.DType, 0, b);
        float* xp = (float*)x.Address, yp = (float*)output.Address;
        CpuParallel.For(m, 1, (s, e) => {
            for (long r = s; r < e; r++) for (int j = 0; j < n; j++) {
                float acc = b[j];
                for (int t = 0; t < k; t++) acc += xp[r * k + t] * (weightTransposed ? w[(long)t * n + j] : w[(long)j * k + t]);
                yp[r * n + j] = acc; } });
    }
}
