// rmsnorm.cu — RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight.
#include "norm.cuh"

MEZO_KERNEL void mezo_rmsnorm(const float* __restrict__ x, const void* __restrict__ weight, int weight_dtype, float eps,
                              float* __restrict__ output, int width)
{
    __shared__ float scratch[32];
    const float* row = x + (mezo_i64)blockIdx.x * width;
    float* out = output + (mezo_i64)blockIdx.x * width;
    float rstd = mezo_rmsnorm_rstd(row, width, eps, scratch);
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[c] = row[c] * rstd * mezo_load(weight, weight_dtype, c);
}

// Launch: grid (rows), block (256, a multiple of 32); x, output (rows, width) float32; weight (width).
