using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// The backward of the activations and of silu(gate)·up (Kernels/elementwise_backward.cu; CPU twin:
/// CpuElementwiseBackward), element-wise.
/// </summary>
internal static class CudaElementwiseBackward
{
    public static void Activation(CudaBackend backend, ActivationKind kind, Tensor input, Tensor grad)
    {
        string kernel = kind switch
        {
            ActivationKind.Relu => "mezo_relu_backward",
            ActivationKind.GeluTanh => "mezo_gelu_tanh_backward",
            ActivationKind.GeluErf => "mezo_gelu_erf_backward",
            ActivationKind.Silu => "mezo_silu_backward",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
        };
        long n = grad.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.ElementwiseBackward, kernel, LaunchShape.Striding(n), Pointer(input.Address), Pointer(grad.Address), I64(n));
    }

    public static void SiluMul(CudaBackend backend, Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        long n = gate.ElementCount;
        if (n == 0) return;
        backend.Launch(KernelCatalog.ElementwiseBackward, "mezo_silu_mul_backward", LaunchShape.Striding(n),
            Pointer(gate.Address), Pointer(up.Address), Pointer(outputGrad.Address), Pointer(gateGrad.Address), Pointer(upGrad.Address),
            I64(n));
    }
}
