// rmsnorm.cu — RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight. Activations (x, output) are float32 or
// 16-bit (act_dtype): read exactly, normalised in float32, each output rounded once to nearest even.
#include "norm.cuh"

MEZO_KERNEL void mezo_rmsnorm(const void* __restrict__ x, int act_dtype, const void* __restrict__ weight, int weight_dtype,
                              float eps, void* __restrict__ output, int width)
{
    __shared__ float scratch[32];
    mezo_i64 first = (mezo_i64)blockIdx.x * width;
    mezo_floats row = mezo_floats_at(x, act_dtype, first);
    float rstd = mezo_rmsnorm_rstd(row, width, eps, scratch);
    for (int c = threadIdx.x; c < width; c += blockDim.x)
        mezo_store(output, act_dtype, first + c, row[c] * rstd * mezo_load(weight, weight_dtype, c));
}

// Launch: grid (rows), block (256, a multiple of 32); x, output (rows, width) of act_dtype; weight (width).
