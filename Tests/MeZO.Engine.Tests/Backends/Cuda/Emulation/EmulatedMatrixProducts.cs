using MeZO.Engine.Backends.Cuda.Native;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Backends.Cuda.Emulation;

/// <summary>
/// cuBLASLt's side of the Linear op on the host: a call is read as CublasLtProducts hands it to cuBLASLt (the
/// column-major product of <see cref="ColumnMajorProduct"/>, operands of the call's types, a bias of its own type added
/// per row of D) and computed after a TF32 call's float32 operands are cut to TF32 as the hardware may cut them. A
/// float32 D is summed in double; a 16-bit D as cuBLASLt's CUBLAS_COMPUTE_32F computes it: float32 accumulation, the
/// bias added to the accumulator in float32, one rounding to nearest even into D's type, which is the CPU backend's
/// arithmetic up to the order of the float32 sums. The RELU epilogue takes max(0, ·) of that sum, and an accumulating
/// call (β = 1) adds D's own value to it, before the one rounding. With it, CudaLinear's cuBLASLt paths (x rounded into scratch, the
/// bias widened, the call's fields, the fallback to a kernel for a refused shape) run against the CPU backend where
/// no GPU exists. <paramref name="supports"/> plays the heuristic: a call it refuses must never reach Linear.
/// </summary>
internal sealed unsafe class EmulatedMatrixProducts(Func<MatmulCall, bool> supports) : IMatrixProducts
{
    public string Description => "host emulation of cuBLASLt";

    /// <summary>Calls computed here and calls refused (which the backend must then compute on a kernel).</summary>
    public int Computed { get; private set; }
    public int Refused { get; private set; }

    public bool Supports(in MatmulCall call)
    {
        bool supported = supports(call);
        if (!supported) Refused++;
        return supported;
    }

    public void Linear(in MatmulCall call)
    {
        if (!supports(call)) throw new InvalidOperationException($"cuBLASLt would have no algorithm for {call}");
        var product = ColumnMajorProduct.Of(call.M, call.N, call.K, call.Transposed);
        bool tf32 = call.Compute == CublasComputeType.Compute32FFastTF32;
        for (long j = 0; j < product.D.Columns; j++)
            for (long i = 0; i < product.D.Rows; i++)
            {
                long a(long l) => product.TransposeA ? l + i * product.A.LeadingDimension : i + l * product.A.LeadingDimension;
                long b(long l) => l + j * product.B.LeadingDimension;
                float bias = call.Bias == 0 ? 0 : Load(call.Bias, call.BiasType, i, tf32: false);
                long d = i + j * product.D.LeadingDimension;
                if (call.OutputType == CudaDataType.R32F)
                {
                    double sum = 0;
                    for (long l = 0; l < call.K; l++) sum += (double)Load(call.W, call.WType, a(l), tf32) * Load(call.X, call.XType, b(l), tf32);
                    float value = (float)(sum + bias);
                    if (call.Relu) value = MathF.Max(value, 0f);
                    if (call.Accumulate) value += ((float*)call.Output)[d];
                    ((float*)call.Output)[d] = value;
                }
                else
                {
                    float sum = 0;
                    for (long l = 0; l < call.K; l++) sum = MathF.FusedMultiplyAdd(Load(call.W, call.WType, a(l), tf32), Load(call.X, call.XType, b(l), tf32), sum);
                    float value = sum + bias;
                    if (call.Relu) value = MathF.Max(value, 0f);
                    if (call.Accumulate) value += Load(call.Output, call.OutputType, d, tf32: false);
                    ((ushort*)call.Output)[d] = call.OutputType == CudaDataType.R16BF
                        ? ScalarConversions.SingleToBFloat16(value)
                        : ScalarConversions.SingleToHalf(value);
                }
            }
        Computed++;
    }

    private static float Load(nint address, CudaDataType type, long index, bool tf32) => type switch
    {
        CudaDataType.R32F => tf32 ? TensorFloat32(((float*)address)[index]) : ((float*)address)[index],
        CudaDataType.R16F => ScalarConversions.HalfToSingle(((ushort*)address)[index]),
        CudaDataType.R16BF => ScalarConversions.BFloat16ToSingle(((ushort*)address)[index]),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a cuBLASLt operand type the engine uses"),
    };

    /// <summary>
    /// A float32 operand as TF32 tensor cores read it: the low 13 of its 23 significand bits dropped (PTX ISA, mma with
    /// .tf32 operands: the lower 13 bits are ignored). cuBLAS may round to nearest instead; truncation is the larger
    /// error (below one TF32 ulp, 2^-10 relative, against half of it), so the emulation takes it.
    /// </summary>
    private static float TensorFloat32(float value) => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(value) & ~0x1FFF);

    public void Dispose()
    {
    }
}
