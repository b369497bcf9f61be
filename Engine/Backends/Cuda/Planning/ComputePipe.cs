namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>The units whose peak bounds a kernel's arithmetic in a roofline: each has its own rate on a data sheet.</summary>
public enum ComputePipe
{
    /// <summary>float32 on the CUDA cores (SIMT kernels, cuBLASLt's CUBLAS_COMPUTE_32F).</summary>
    Fp32,
    /// <summary>float64 on the CUDA cores: the exact z of Kernels/philox.cuh is computed in double precision.</summary>
    Fp64,
    /// <summary>TF32 tensor cores (cuBLASLt's CUBLAS_COMPUTE_32F_FAST_TF32 on float32 operands).</summary>
    Tf32Tensor,
    /// <summary>bf16 or f16 tensor cores with float32 accumulation (gemm_mma.cu, cuBLASLt on 16-bit operands).</summary>
    HalfTensor,
}
