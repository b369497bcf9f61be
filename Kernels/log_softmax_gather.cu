// log_softmax_gather.cu — output[s] = log softmax(logits[s])[targets[s]], one pass over the vocabulary.
#include "device.cuh"

// One block per row. Each thread walks its share of the vocabulary keeping a running (max, sum of exp(x - max)),
// rescaling the sum when the max grows, so the row is read once however large V is; the block then merges the
// threads' pairs. The final log is taken in double, as the CPU backend does.

/// Merges two (max, sum) pairs of the online softmax into the first.
__device__ __forceinline__ void mezo_merge_softmax(float* max_a, float* sum_a, float max_b, float sum_b)
{
    float m = fmaxf(*max_a, max_b);
    if (m == -MEZO_INFINITY) return; // both empty
    *sum_a = *sum_a * expf(*max_a - m) + sum_b * expf(max_b - m);
    *max_a = m;
}

MEZO_KERNEL void mezo_log_softmax_gather(const float* __restrict__ logits, const int* __restrict__ targets,
                                         float* __restrict__ output, int vocab, int* fault)
{
    __shared__ float shared_max[32], shared_sum[32];
    int s = blockIdx.x;
    int target = targets[s];
    if ((unsigned)target >= (unsigned)vocab)
    {
        if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_TARGET, s, target, vocab);
        return;
    }
    const float* row = logits + (mezo_i64)s * vocab;
    float m = -MEZO_INFINITY, sum = 0.0f;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x)
    {
        float x = row[v];
        if (x > m)
        {
            sum = sum * expf(m - x) + 1.0f;
            m = x;
        }
        else if (x != -MEZO_INFINITY) // exp(-inf - m) adds nothing, and would be NaN while m is still -inf
        {
            sum += expf(x - m);
        }
    }
    for (int offset = 16; offset > 0; offset >>= 1)
    {
        float other_max = __shfl_xor_sync(MEZO_FULL_MASK, m, offset);
        float other_sum = __shfl_xor_sync(MEZO_FULL_MASK, sum, offset);
        mezo_merge_softmax(&m, &sum, other_max, other_sum);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
    {
        shared_max[warp] = m;
        shared_sum[warp] = sum;
    }
    __syncthreads();
    if (threadIdx.x == 0)
    {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) mezo_merge_softmax(&m, &sum, shared_max[w], shared_sum[w]);
        output[s] = (float)((double)(row[target] - m) - log((double)sum));
    }
}

// Launch: grid (S), block (256); logits (S, V) float32, targets (S) int32, output (S) float32.
