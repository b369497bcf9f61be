// layernorm.cu — LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias. Activations (x, output)
// are float32 or 16-bit (act_dtype): read exactly, normalised in float32, each output rounded once to nearest even.
#include "norm.cuh"

// One block per row; the statistics are norm.cuh's. bias_dtype is MEZO_NO_TENSOR when there is no bias.
MEZO_KERNEL void mezo_layernorm(const void* __restrict__ x, int act_dtype, const void* __restrict__ weight, int weight_dtype,
                                const void* __restrict__ bias, int bias_dtype, float eps, void* __restrict__ output,
                                int width)
{
    __shared__ float scratch[32];
    mezo_i64 first = (mezo_i64)blockIdx.x * width;
    mezo_floats row = mezo_floats_at(x, act_dtype, first);

    float mean, rstd;
    mezo_layernorm_stats(row, width, eps, scratch, &mean, &rstd);

    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float b = bias_dtype == MEZO_NO_TENSOR ? 0.0f : mezo_load(bias, bias_dtype, c);
        mezo_store(output, act_dtype, first + c, fmaf((row[c] - mean) * rstd, mezo_load(weight, weight_dtype, c), b));
    }
}

// Launch: grid (rows), block (256, a multiple of 32); x, output (rows, width) of act_dtype; weight, bias (width).
