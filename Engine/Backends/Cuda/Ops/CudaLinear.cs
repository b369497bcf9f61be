using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Which implementation a Linear call runs on.</summary>
internal enum LinearPath
{
    /// <summary>cuBLASLt in float32 (CUDA cores), float32 activations.</summary>
    CublasLtFloat32,
    /// <summary>cuBLASLt with TF32 tensor cores, float32 weights and activations.</summary>
    CublasLtTensorFloat32,
    /// <summary>
    /// cuBLASLt on float32 activations and 16-bit weights: x rounded to the weights' type by Kernels/convert.cu into
    /// scratch, tensor cores, float32 accumulation and output.
    /// </summary>
    CublasLtMixed,
    /// <summary>
    /// cuBLASLt with x, W and the output in one 16-bit type: tensor cores, float32 accumulation, the bias added to the
    /// accumulator in the epilogue and the output rounded once. Nothing is converted and nothing float32 is written.
    /// </summary>
    CublasLtSixteenBit,
    /// <summary>
    /// Kernels/gemm_mma.cu: bf16/f16 tensor cores, float32 accumulation, no converted copies; x and the output in the
    /// activation dtype (float32 x is rounded to the weights' type as it is staged, 16-bit x of that type read as is).
    /// </summary>
    TensorCoreKernel,
    /// <summary>
    /// Kernels/gemm_simt.cu: float32 arithmetic on CUDA cores, every operand read in its own dtype and the output
    /// rounded once: float32 precision, and 16-bit activations against weights of another dtype (a float32 LoRA factor
    /// or perturbed weight).
    /// </summary>
    SimtKernel,
}

/// <summary>
/// output(M, N) = x(M, K)·Wᵀ + bias, x and the output in the activation dtype (F32, BF16 or F16). Which implementation
/// runs depends on the precision asked for, the activations' and weights' dtypes and what the device has
/// (<see cref="Choose"/>); a shape for which cuBLASLt has no algorithm runs on the kernel chosen as if cuBLASLt were
/// absent. 16-bit activations are never converted: they reach cuBLASLt or the kernels as they are, and the output is
/// written in their type, rounded once from the float32 accumulator plus bias.
/// </summary>
internal static class CudaLinear
{
    /// <summary>The kernels' epilogue codes (MEZO_EPILOGUE_* in device.cuh).</summary>
    internal const int EpilogueNone = 0, EpilogueRelu = 1, EpilogueAccumulate = 2;

    /// <summary>Both kernels compute 64×64 outputs per block: 256 threads of 4×4 (SIMT), or four warps of 32×32 (mma).</summary>
    private const int Tile = 64, SimtThreads = 256, MmaThreads = 128;

    /// <summary>gemm_simt.cu's block, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> SimtDefines { get; } = [("SIMT_TILE", Tile), ("SIMT_THREADS", SimtThreads)];

    /// <summary>gemm_mma.cu's block, which it takes from here (NVRTC -D options).</summary>
    public static IReadOnlyList<(string Name, int Value)> MmaDefines { get; } = [("MMA_TILE", Tile), ("MMA_THREADS", MmaThreads)];

    /// <summary>
    /// The path for a call, from the options, the dtypes and the device alone. 16-bit activations with weights of their
    /// type take tensor cores whatever the precision: the inputs are exact and accumulation is float32, which is all
    /// <see cref="MatmulPrecision.Float32"/> asks. Against weights of another dtype they take the SIMT kernel, which
    /// reads both exactly where a tensor-core path would first round one operand to the other's type.
    /// </summary>
    public static LinearPath Choose(MatmulPrecision precision, DType activationType, DType weightType, bool haveCublasLt,
        int computeCapability, int k)
    {
        bool sixteenBit = weightType is DType.F16 or DType.BF16;
        bool cublas = haveCublasLt && k > 0; // K = 0 is a bias broadcast: the kernel does it, cuBLASLt rejects it
        if (activationType != DType.F32)
        {
            if (weightType != activationType) return LinearPath.SimtKernel;
            if (cublas) return LinearPath.CublasLtSixteenBit;
            return computeCapability >= 80 ? LinearPath.TensorCoreKernel : LinearPath.SimtKernel;
        }
        if (precision == MatmulPrecision.Float32)
            return !sixteenBit && cublas ? LinearPath.CublasLtFloat32 : LinearPath.SimtKernel; // never a widened copy of W
        if (!sixteenBit) return cublas ? LinearPath.CublasLtTensorFloat32 : LinearPath.SimtKernel;
        if (cublas) return LinearPath.CublasLtMixed;
        return computeCapability >= 80 ? LinearPath.TensorCoreKernel : LinearPath.SimtKernel;
    }

    public static void Run(CudaBackend backend, Tensor x, Tensor weight, bool transposed, Tensor? bias, Tensor output,
        LinearEpilogue epilogue = default) =>
        Run(backend, x, weight.Address, weight.DType, transposed, bias, output, epilogue);

    /// <summary>
    /// As <see cref="Run(CudaBackend, Tensor, Tensor, bool, Tensor?, Tensor, LinearEpilogue)"/> with the weight at a device
    /// address, laid out as a tensor of <paramref name="weightType"/> of the shape the call implies: how a perturbed product
    /// multiplies the copy of W + scale·z it wrote into scratch. A ReLU alone, or a residual add alone, is fused into the
    /// product on every path (cuBLASLt's RELU_BIAS epilogue or β = 1 into the residual; the kernels' epilogue), its
    /// intermediate kept in float32, and with a residual the output is never written. cuBLASLt's order,
    /// activation(x·Wᵀ + β·C + bias), matches only these two, and its GELU is not documented as the tanh form GeluTanh
    /// is, so any other epilogue runs after the product as separate ops (LinearEpilogue.RunUnfused).
    /// </summary>
    public static void Run(CudaBackend backend, Tensor x, nint weight, DType weightType, bool transposed, Tensor? bias, Tensor output,
        LinearEpilogue epilogue = default)
    {
        bool relu = epilogue is { Activation: ActivationKind.Relu, Residual: null };
        bool accumulate = epilogue is { Activation: null, Residual: not null };
        var destination = accumulate ? epilogue.Residual! : output;
        Run(backend, x.Address, x.DType, destination.Address, x.Shape.Rows, output.Shape[-1], x.Shape[-1], x.Name, weight, weightType,
            transposed, bias, relu, accumulate);
        if (!relu && !accumulate) epilogue.RunUnfused(backend, output);
    }

    /// <summary>
    /// output(M, N) = x(M, K)·Wᵀ + bias with x and output float32 row-major at device addresses: how LinearBackward
    /// multiplies operands it has staged in scratch. <paramref name="name"/> names x in errors.
    /// </summary>
    public static void Run(CudaBackend backend, nint x, nint output, long m, int n, int k, string name, nint weight, DType weightType,
        bool transposed, Tensor? bias = null) =>
        Run(backend, x, DType.F32, output, m, n, k, name, weight, weightType, transposed, bias, relu: false, accumulate: false);

    /// <param name="activationType">the dtype of x and of the output</param>
    /// <param name="relu">max(0, ·) before the output's rounding</param>
    /// <param name="accumulate">the product added to what the output holds, before its rounding</param>
    private static void Run(CudaBackend backend, nint x, DType activationType, nint output, long m, int n, int k, string name,
        nint weight, DType weightType, bool transposed, Tensor? bias, bool relu, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if ((m + Tile - 1) / Tile > LaunchShape.MaxGridYZ)
            throw new NotSupportedException($"Linear: {m} rows of '{name}' exceed the kernels' grid ({LaunchShape.MaxGridYZ * Tile} rows)");
        var runtime = backend.Runtime;
        var precision = backend.Options.Precision;
        var path = Choose(precision, activationType, weightType, runtime.MatrixProducts is not null, runtime.ComputeCapability, k);
        var product = new Product(x, activationType, weight, weightType, transposed, bias, output, (int)m, n, k, relu, accumulate);
        if (path is LinearPath.SimtKernel or LinearPath.TensorCoreKernel)
            Kernel(backend, path, product);
        else if (!Cublas(backend, path, product))
            Kernel(backend, Choose(precision, activationType, weightType, haveCublasLt: false, runtime.ComputeCapability, k), product);
    }

    /// <summary>
    /// One call's operands: x and output (M, N) of <see cref="ActivationType"/>, W (N, K) or (K, N) when transposed; on
    /// every path, a fused ReLU or an accumulation into the output (<see cref="MatmulCall"/>, the kernels' MEZO_EPILOGUE_*).
    /// </summary>
    private readonly record struct Product(nint X, DType ActivationType, nint Weight, DType WeightType, bool Transposed,
        Tensor? Bias, nint Output, int M, int N, int K, bool Relu, bool Accumulate);

    private static void Kernel(CudaBackend backend, LinearPath path, in Product p)
    {
        if (path == LinearPath.TensorCoreKernel)
            Kernel(backend, KernelCatalog.GemmMma, p.WeightType == DType.BF16 ? "mezo_gemm_mma_bf16" : "mezo_gemm_mma_f16", MmaThreads, p);
        else
            Kernel(backend, KernelCatalog.GemmSimt, "mezo_gemm_simt", SimtThreads, p);
    }

    private static void Kernel(CudaBackend backend, KernelFile file, string kernel, uint threads, in Product p)
    {
        var grid = new Dim3((uint)((p.N + Tile - 1) / Tile), (uint)((p.M + Tile - 1) / Tile));
        backend.Launch(file, kernel, new LaunchShape(grid, new Dim3(threads)),
            Pointer(p.X), I32((int)p.ActivationType), Pointer(p.Weight), I32((int)p.WeightType), I32(p.Transposed ? 1 : 0),
            Pointer(p.Bias?.Address ?? 0), I32(p.Bias is null ? CudaNorms.NoTensor : (int)p.Bias.DType), Pointer(p.Output),
            I32(p.M), I32(p.N), I32(p.K), I32(p.Relu ? EpilogueRelu : p.Accumulate ? EpilogueAccumulate : EpilogueNone));
    }

    /// <summary>
    /// cuBLASLt takes x and W of one type. On float32 activations with 16-bit weights x is rounded to the weights' type
    /// into the backend's scratch by Kernels/convert.cu (the mixed precision DESIGN §2 chose). The bias is read in the
    /// output's type, or as float32 (named to cuBLASLt where the output is 16-bit); a bias of another 16-bit type is
    /// widened to float32 into scratch: N elements, and rounding it to the output's type instead would round twice.
    /// False (nothing queued) when cuBLASLt has no algorithm for the call.
    /// </summary>
    private static bool Cublas(CudaBackend backend, LinearPath path, in Product p)
    {
        bool convertX = path == LinearPath.CublasLtMixed;
        bool convertBias = p.Bias is { } given && given.DType != DType.F32 && given.DType != p.ActivationType;
        nint xAddress = p.X, biasAddress = p.Bias?.Address ?? 0;
        if (convertX || convertBias)
        {
            var (xScratch, biasScratch) = backend.Scratch.Reserve(backend.Capturing,
                convertX ? (long)p.M * p.K * p.WeightType.SizeOf() : 0, convertBias ? (long)p.N * sizeof(float) : 0);
            if (convertX) xAddress = xScratch;
            if (convertBias) biasAddress = biasScratch;
        }
        var compute = path == LinearPath.CublasLtTensorFloat32 ? CublasComputeType.Compute32FFastTF32 : CublasComputeType.Compute32F;
        var biasType = convertBias ? DType.F32 : p.Bias?.DType ?? p.ActivationType;
        var call = new MatmulCall(p.M, p.N, p.K, xAddress, DataType(convertX ? p.WeightType : p.ActivationType), p.Weight,
            DataType(p.WeightType), p.Transposed, biasAddress, DataType(biasType), p.Output, DataType(p.ActivationType), compute,
            p.Relu, p.Accumulate);
        var products = backend.Runtime.MatrixProducts!;
        if (!products.Supports(call)) return false;
        if (convertX) Convert(backend, p.X, DType.F32, xAddress, p.WeightType, (long)p.M * p.K);
        if (convertBias) Convert(backend, p.Bias!.Address, p.Bias.DType, biasAddress, DType.F32, p.N);
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
