// layernorm.cu — LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias.
#include "device.cuh"

// One block per row. Mean and variance in two passes over the row (which stays in L1/L2), as PyTorch and the CPU
// backend do: no cancellation on rows with a large mean. bias_dtype is MEZO_NO_TENSOR when there is no bias.
MEZO_KERNEL void mezo_layernorm(const float* __restrict__ x, const void* __restrict__ weight, int weight_dtype,
                                const void* __restrict__ bias, int bias_dtype, float eps, float* __restrict__ output,
                                int width)
{
    __shared__ float scratch[32];
    const float* row = x + (mezo_i64)blockIdx.x * width;
    float* out = output + (mezo_i64)blockIdx.x * width;

    float sum = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) sum += row[c];
    float mean = mezo_block_sum(sum, scratch) / width;

    float squares = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float d = row[c] - mean;
        squares = fmaf(d, d, squares);
    }
    float rstd = 1.0f / sqrtf(mezo_block_sum(squares, scratch) / width + eps);

    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float b = bias_dtype == MEZO_NO_TENSOR ? 0.0f : mezo_load(bias, bias_dtype, c);
        out[c] = fmaf((row[c] - mean) * rstd, mezo_load(weight, weight_dtype, c), b);
    }
}

// Launch: grid (rows), block (256, a multiple of 32); x, output (rows, width) float32; weight, bias (width).
