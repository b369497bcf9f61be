using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Which implementation a Linear call runs on.</summary>
internal enum LinearPath
{
    /// <summary>cuBLASLt in float32 (CUDA cores).</summary>
    CublasLtFloat32,
    /// <summary>cuBLASLt with TF32 tensor cores, float32 weights.</summary>
    CublasLtTensorFloat32,
    /// <summary>cuBLASLt with x rounded to the weights' bf16/f16, tensor cores, float32 accumulation.</summary>
    CublasLtMixed,
    /// <summary>Kernels/gemm_mma.cu: bf16/f16 tensor cores, float32 accumulation, no converted copies.</summary>
    TensorCoreKernel,
    /// <summary>Kernels/gemm_simt.cu: float32 on CUDA cores, weights of any dtype read directly.</summary>
    SimtKernel,
}

/// <summary>
/// output(M, N) = x(M, K)·Wᵀ + bias. Which implementation runs depends on the precision asked for, the weights'
/// dtype and what the device has (<see cref="Choose"/>); a shape for which cuBLASLt has no algorithm runs on the kernel
/// chosen as if cuBLASLt were absent. Every path takes float32 x and writes float32 output.
/// </summary>
internal static class CudaLinear
{
    /// <summary>Both kernels compute 64×64 outputs per block: 256 threads of 4×4 (SIMT), or four warps of 32×32 (mma).</summary>
    private const int Tile = 64, SimtThreads = 256, MmaThreads = 128;

    /// <summary>gemm_simt.cu's block, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> SimtDefines { get; } = [("SIMT_TILE", Tile), ("SIMT_THREADS", SimtThreads)];

    /// <summary>gemm_mma.cu's block, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> MmaDefines { get; } = [("MMA_TILE", Tile), ("MMA_THREADS", MmaThreads)];

    /// <summary>The path for a call, from the options, the weights' dtype and the device alone.</summary>
    public static LinearPath Choose(MatmulPrecision precision, DType weightType, bool haveCublasLt, int computeCapability, int k)
    {
        bool sixteenBit = weightType is DType.F16 or DType.BF16;
        bool cublas = haveCublasLt && k > 0; // K = 0 is a bias broadcast: the kernel does it, cuBLASLt rejects it
        if (precision == MatmulPrecision.Float32)
            return !sixteenBit && cublas ? LinearPath.CublasLtFloat32 : LinearPath.SimtKernel; // never a widened copy of W
        if (!sixteenBit) return cublas ? LinearPath.CublasLtTensorFloat32 : LinearPath.SimtKernel;
        if (cublas) return LinearPath.CublasLtMixed;
        return computeCapability >= 80 ? LinearPath.TensorCoreKernel : LinearPath.SimtKernel;
    }

    public static void Run(CudaBackend backend, Tensor x, Tensor weight, bool transposed, Tensor? bias, Tensor output) =>
        Run(backend, x, weight.Address, weight.DType, transposed, bias, output);

    /// <summary>
    /// As <see cref="Run(CudaBackend, Tensor, Tensor, bool, Tensor?, Tensor)"/> with the weight at a device address, laid
    /// out as a tensor of <paramref name="weightType"/> of the shape the call implies: how a perturbed product multiplies
    /// the float32 copy of W + scale·z it wrote into scratch.
    /// </summary>
    public static void Run(CudaBackend backend, Tensor x, nint weight, DType weightType, bool transposed, Tensor? bias, Tensor output) =>
        Run(backend, x.Address, output.Address, x.Shape.Rows, output.Shape[-1], x.Shape[-1], x.Name, weight, weightType, transposed, bias);

    /// <summary>
    /// output(M, N) = x(M, K)·Wᵀ + bias with x and output float32 row-major at device addresses: how LinearBackward
    /// multiplies operands it has staged in scratch. <paramref name="name"/> names x in errors.
    /// </summary>
    public static void Run(CudaBackend backend, nint x, nint output, long m, int n, int k, string name, nint weight, DType weightType,
        bool transposed, Tensor? bias = null)
    {
        if (m == 0 || n == 0) return;
        if ((m + Tile - 1) / Tile > LaunchShape.MaxGridYZ)
            throw new NotSupportedException($"Linear: {m} rows of '{name}' exceed the kernels' grid ({LaunchShape.MaxGridYZ * Tile} rows)");
        var runtime = backend.Runtime;
        var path = Choose(backend.Options.Precision, weightType, runtime.MatrixProducts is not null, runtime.ComputeCapability, k);
        if (path is LinearPath.SimtKernel or LinearPath.TensorCoreKernel)
            Kernel(backend, path, x, weight, weightType, transposed, bias, output, (int)m, n, k);
        else if (!Cublas(backend, path, x, weight, weightType, transposed, bias, output, (int)m, n, k))
            Kernel(backend, Choose(backend.Options.Precision, weightType, haveCublasLt: false, runtime.ComputeCapability, k),
                x, weight, weightType, transposed, bias, output, (int)m, n, k);
    }

    private static void Kernel(CudaBackend backend, LinearPath path, nint x, nint weight, DType weightType, bool transposed,
        Tensor? bias, nint output, int m, int n, int k)
    {
        if (path == LinearPath.TensorCoreKernel)
            Kernel(backend, KernelCatalog.GemmMma, weightType == DType.BF16 ? "mezo_gemm_mma_bf16" : "mezo_gemm_mma_f16", MmaThreads,
                x, weight, weightType, transposed, bias, output, m, n, k);
        else
            Kernel(backend, KernelCatalog.GemmSimt, "mezo_gemm_simt", SimtThreads, x, weight, weightType, transposed, bias, output, m, n, k);
    }

    private static void Kernel(CudaBackend backend, KernelFile file, string kernel, uint threads, nint x, nint weight,
        DType weightType, bool transposed, Tensor? bias, nint output, int m, int n, int k)
    {
        var grid = new Dim3((uint)((n + Tile - 1) / Tile), (uint)((m + Tile - 1) / Tile));
        backend.Launch(file, kernel, new LaunchShape(grid, new Dim3(threads)),
            Pointer(x), Pointer(weight), I32((int)weightType), I32(transposed ? 1 : 0),
            Pointer(bias?.Address ?? 0), I32(bias is null ? CudaNorms.NoTensor : (int)bias.DType), Pointer(output),
            I32(m), I32(n), I32(k));
    }

    /// <summary>
    /// cuBLASLt takes operands of one type and a bias of the output's type (float32): x is rounded to the weights'
    /// 16-bit type and a 16-bit bias widened, into the backend's scratch, by Kernels/convert.cu. False (nothing queued)
    /// when cuBLASLt has no algorithm for the call.
    /// </summary>
    private static bool Cublas(CudaBackend backend, LinearPath path, nint x, nint weight, DType weightType, bool transposed,
        Tensor? bias, nint output, int m, int n, int k)
    {
        bool convertX = path == LinearPath.CublasLtMixed;
        bool convertBias = bias is not null && bias.DType != DType.F32;
        nint xAddress = x, biasAddress = bias?.Address ?? 0;
        if (convertX || convertBias)
        {
            var (xScratch, biasScratch) = backend.Scratch.Reserve(backend.Capturing,
                convertX ? (long)m * k * weightType.SizeOf() : 0, convertBias ? (long)n * sizeof(float) : 0);
            if (convertX) xAddress = xScratch;
            if (convertBias) biasAddress = biasScratch;
        }
        var compute = path == LinearPath.CublasLtTensorFloat32 ? CublasComputeType.Compute32FFastTF32 : CublasComputeType.Compute32F;
        var call = new MatmulCall(m, n, k, xAddress, DataType(convertX ? weightType : DType.F32), weight,
            DataType(weightType), transposed, biasAddress, output, compute);
        var products = backend.Runtime.MatrixProducts!;
        if (!products.Supports(call)) return false;
        if (convertX) Convert(backend, x, DType.F32, xAddress, weightType, (long)m * k);
        if (convertBias) Convert(backend, bias!.Address, bias.DType, biasAddress, DType.F32, n);
        products.Linear(call);
        return true;
    }

    private static void Convert(CudaBackend backend, nint source, DType sourceType, nint destination, DType destinationType, long n) =>
        backend.Launch(KernelCatalog.Convert, "mezo_convert", LaunchShape.Striding(n), Pointer(source), I32((int)sourceType),
            Pointer(destination), I32((int)destinationType), I64(n));

    private static CudaDataType DataType(DType type) => type switch
    {
        DType.F32 => CudaDataType.R32F,
        DType.F16 => CudaDataType.R16F,
        DType.BF16 => CudaDataType.R16BF,
        _ => throw new ArgumentException($"no cuBLASLt type for {type}"),
    };
}
