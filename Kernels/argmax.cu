// argmax.cu — output[s] = argmax over the vocabulary of logits[s], the lowest index on ties; -1 for a row that holds
// a NaN or ±inf, as the CPU backend gives (a broken row has no meaningful argmax, and the caller reports it). Logits
// are float32 or 16-bit (dtype), compared as their exact float32 values.
#include "device.cuh"

// (value, index) pairs where a larger value wins and equal values go to the lower index; the index -1 marks a
// non-finite value seen and wins over everything, so it survives every merge of the reduction.

__device__ __forceinline__ void mezo_better(float* best, int* best_index, float value, int index)
{
    if (*best_index == -1) return;
    if (index == -1 || value > *best || (value == *best && index < *best_index))
    {
        *best = value;
        *best_index = index;
    }
}

MEZO_KERNEL void mezo_argmax(const void* __restrict__ logits, int dtype, int* __restrict__ output, int vocab)
{
    __shared__ float shared_best[32];
    __shared__ int shared_index[32];
    mezo_floats row = mezo_floats_at(logits, dtype, (mezo_i64)blockIdx.x * vocab);
    float best = -MEZO_INFINITY;
    int best_index = 0x7FFFFFFF;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x)
    {
        float x = row[v];
        mezo_better(&best, &best_index, x, x - x == 0.0f ? v : -1); // x - x is NaN exactly for NaN and ±inf
    }
    for (int offset = 16; offset > 0; offset >>= 1)
    {
        float other = __shfl_xor_sync(MEZO_FULL_MASK, best, offset);
        int other_index = __shfl_xor_sync(MEZO_FULL_MASK, best_index, offset);
        mezo_better(&best, &best_index, other, other_index);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
    {
        shared_best[warp] = best;
        shared_index[warp] = best_index;
    }
    __syncthreads();
    if (threadIdx.x == 0)
    {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) mezo_better(&best, &best_index, shared_best[w], shared_index[w]);
        output[blockIdx.x] = best_index;
    }
}

// Launch: grid (S), block (256); logits (S, V) of dtype with V ≥ 1, output (S) int32.
