using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>PLACEHOLDER: replaced by the packed, cache-blocked matrix product.</summary>
internal static class CpuMatMul
{
    public static void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output) =>
        throw new NotImplementedException();
}
