using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Element-wise ops: activations, the gated MLP's silu·up, the residual add and the scaled add of a LoRA bypass, on
/// float32 or 16-bit activations (each result computed in float32, rounded once).
/// </summary>
internal static class CudaElementwise
{
    public static void Activation(CudaBackend backend, ActivationKind kind, Tensor x)
    {
        long n = x.ElementCount;
        if (n == 0) return;
        string kernel = kind switch
        {
            ActivationKind.Relu => "mezo_relu",
            ActivationKind.GeluTanh => "mezo_gelu_tanh",
            ActivationKind.GeluErf => "mezo_gelu_erf",
            ActivationKind.Silu => "mezo_silu",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
        };
        backend.Launch(KernelCatalog.Activation, kernel, LaunchShape.Striding(n), Pointer(x.Address), I32((int)x.DType), I64(n));
    }

    public static void SiluMul(CudaBackend backend, Tensor gate, Tensor up)
    {
        long n = gate.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.SiluMul, "mezo_silu_mul", LaunchShape.Striding(n), Pointer(gate.Address), Pointer(up.Address),
            I32((int)gate.DType), I64(n));
    }

    public static void Add(CudaBackend backend, Tensor x, Tensor y)
    {
        long n = x.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Add, "mezo_add", LaunchShape.Striding(n), Pointer(x.Address), Pointer(y.Address), I32((int)x.DType),
            I64(n));
    }

    public static void AddScaled(CudaBackend backend, Tensor x, Tensor y, float scale)
    {
        long n = x.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.Add, "mezo_add_scaled", LaunchShape.Striding(n), Pointer(x.Address), Pointer(y.Address),
            I32((int)x.DType), F32(scale), I64(n));
    }
}
