// norm.cuh — a row's normalisation statistics, which layernorm.cu and rmsnorm.cu normalise with and norm_backward.cu
// recomputes: one definition, so the backward differentiates the very statistics the forward used. A row is a float
// pointer or a mezo_floats view of 16-bit activations (widened exactly): the statistics are float32 either way.
#pragma once
#include "device.cuh"

// LayerNorm: mean and 1/sqrt(var + eps) of a row, in two passes (which the row, in L1/L2, makes cheap), as PyTorch
// and the CPU backend do: no cancellation on rows with a large mean. Every thread of the block gets both.
template <class Row>
__device__ __forceinline__ void mezo_layernorm_stats(Row row, int width, float eps, float* scratch, float* mean, float* rstd)
{
    float sum = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) sum += row[c];
    float m = mezo_block_sum(sum, scratch) / width;
    float squares = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float d = row[c] - m;
        squares = fmaf(d, d, squares);
    }
    *mean = m;
    *rstd = 1.0f / sqrtf(mezo_block_sum(squares, scratch) / width + eps);
}

// RMSNorm: 1/sqrt(mean(x²) + eps) of a row, to every thread of the block.
template <class Row>
__device__ __forceinline__ float mezo_rmsnorm_rstd(Row row, int width, float eps, float* scratch)
{
    float squares = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) squares = fmaf(row[c], row[c], squares);
    return 1.0f / sqrtf(mezo_block_sum(squares, scratch) / width + eps);
}
