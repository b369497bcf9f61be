using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>Which implementation a Linear call takes (DESIGN §2: cuBLASLt, with the NVRTC tensor-core kernel as fallback).</summary>
public class CudaLinearPathTests
{
    [TestCase(MatmulPrecision.Mixed, DType.BF16, true, 90, "CublasLtMixed")]
    [TestCase(MatmulPrecision.Mixed, DType.F16, true, 80, "CublasLtMixed")]
    [TestCase(MatmulPrecision.Mixed, DType.F32, true, 90, "CublasLtTensorFloat32")]
    [TestCase(MatmulPrecision.Mixed, DType.BF16, false, 90, "TensorCoreKernel")]
    [TestCase(MatmulPrecision.Mixed, DType.BF16, false, 75, "SimtKernel")] // no bf16 mma before sm_80
    [TestCase(MatmulPrecision.Mixed, DType.F32, false, 90, "SimtKernel")]
    [TestCase(MatmulPrecision.Float32, DType.F32, true, 90, "CublasLtFloat32")]
    [TestCase(MatmulPrecision.Float32, DType.BF16, true, 90, "SimtKernel")]   // never a widened copy of W
    [TestCase(MatmulPrecision.Float32, DType.F16, false, 80, "SimtKernel")]
    public void ChoosesByPrecisionDtypeAndDevice(MatmulPrecision precision, DType weight, bool cublasLt, int cc, string expected)
    {
        Assert.That(CudaLinear.Choose(precision, DType.F32, weight, cublasLt, cc, k: 64), Is.EqualTo(Enum.Parse<LinearPath>(expected)));
    }

    [TestCase(MatmulPrecision.Mixed, DType.BF16, DType.BF16, true, 90, "CublasLtSixteenBit")]
    [TestCase(MatmulPrecision.Float32, DType.F16, DType.F16, true, 80, "CublasLtSixteenBit")] // exact inputs, float32 sums
    [TestCase(MatmulPrecision.Mixed, DType.BF16, DType.BF16, false, 80, "TensorCoreKernel")]
    [TestCase(MatmulPrecision.Float32, DType.F16, DType.F16, false, 90, "TensorCoreKernel")]
    [TestCase(MatmulPrecision.Mixed, DType.BF16, DType.BF16, false, 75, "SimtKernel")]
    [TestCase(MatmulPrecision.Mixed, DType.BF16, DType.F32, true, 90, "SimtKernel")]  // a float32 LoRA factor or perturbed weight
    [TestCase(MatmulPrecision.Mixed, DType.F16, DType.BF16, true, 90, "SimtKernel")]  // never one operand rounded to the other's type
    public void SixteenBitActivationsAreNeverConverted(MatmulPrecision precision, DType activations, DType weight, bool cublasLt,
        int cc, string expected)
    {
        Assert.That(CudaLinear.Choose(precision, activations, weight, cublasLt, cc, k: 64), Is.EqualTo(Enum.Parse<LinearPath>(expected)));
    }

    [Test]
    public void AnEmptyInnerDimensionNeverGoesToCublasLt()
    {
        Assert.That(CudaLinear.Choose(MatmulPrecision.Mixed, DType.F32, DType.BF16, true, 90, k: 0), Is.EqualTo(LinearPath.TensorCoreKernel));
    }
}
