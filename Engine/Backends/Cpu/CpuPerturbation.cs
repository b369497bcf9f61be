using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>PLACEHOLDER: replaced by the Philox perturbation ops.</summary>
internal static class CpuPerturbation
{
    public static void Perturb(Tensor weight, ulong seed, ulong firstIndex, float scale) =>
        throw new NotImplementedException();

    public static void PerturbUpdate(Tensor weight, ulong seed, ulong firstIndex, float eps, float learningRate,
        float weightDecay, float projectedGradient) => throw new NotImplementedException();
}
