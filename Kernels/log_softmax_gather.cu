// log_softmax_gather.cu — log softmax(logits[s])[targets[s]]: in one pass over the vocabulary, or slice by slice.
// Logits are float32 or 16-bit (dtype), read exactly where they lie (never copied into float32 logits); the statistics,
// the state and the results are float32.
#include "device.cuh"

// One block per row. Each thread walks its share of the vocabulary keeping a running (max, sum of exp(x - max)),
// rescaling the sum when the max grows, so the row is read once however large V is; the block then merges the
// threads' pairs. The final log is taken in double, as the CPU backend does.

/// Merges two (max, sum) pairs of the online softmax into the first.
__device__ __forceinline__ void mezo_merge_softmax(float* max_a, float* sum_a, float max_b, float sum_b)
{
    float m = mezo_max(*max_a, max_b); // a NaN maximum makes the sum NaN below: NaN logits give a NaN result
    if (m == -MEZO_INFINITY) return; // both empty
    *sum_a = *sum_a * expf(*max_a - m) + sum_b * expf(max_b - m);
    *max_a = m;
}

/// The row's (max, Σ exp(x − max)) over its `width` values, merged across the block; valid in thread 0.
__device__ __forceinline__ void mezo_block_softmax_stats(mezo_floats row, int width, float* max_out, float* sum_out)
{
    __shared__ float shared_max[32], shared_sum[32];
    float m = -MEZO_INFINITY, sum = 0.0f;
    for (int v = threadIdx.x; v < width; v += blockDim.x)
    {
        float x = row[v];
        if (x > m || x != x) // a NaN becomes the maximum, and the sum NaN with it
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
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) mezo_merge_softmax(&m, &sum, shared_max[w], shared_sum[w]);
    *max_out = m;
    *sum_out = sum;
}

MEZO_KERNEL void mezo_log_softmax_gather(const void* __restrict__ logits, int dtype, const int* __restrict__ targets,
                                         float* __restrict__ output, int vocab, int* fault)
{
    int s = blockIdx.x;
    int target = targets[s];
    if ((unsigned)target >= (unsigned)vocab)
    {
        if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_TARGET, s, target, vocab);
        return;
    }
    mezo_floats row = mezo_floats_at(logits, dtype, (mezo_i64)s * vocab);
    float m, sum;
    mezo_block_softmax_stats(row, vocab, &m, &sum);
    if (threadIdx.x == 0) output[s] = (float)((double)(row[target] - m) - log((double)sum));
}

// One vocabulary slice of a log-softmax (IBackend.LogSoftmaxAccumulate): the slice's (max, sum) merged into the row's
// running state (max, Σ exp(x − max), target logit), the target's logit taken where it falls inside the slice.
MEZO_KERNEL void mezo_log_softmax_accumulate(const void* __restrict__ logits, int dtype, const int* __restrict__ targets,
                                             float* __restrict__ state, int width, int first_column)
{
    int s = blockIdx.x;
    mezo_floats row = mezo_floats_at(logits, dtype, (mezo_i64)s * width);
    float m, sum;
    mezo_block_softmax_stats(row, width, &m, &sum);
    if (threadIdx.x != 0) return;
    float* st = state + 3 * (mezo_i64)s;
    float running_max = st[0], running_sum = st[1];
    mezo_merge_softmax(&running_max, &running_sum, m, sum);
    st[0] = running_max;
    st[1] = running_sum;
    mezo_i64 column = (mezo_i64)targets[s] - first_column;
    if (column >= 0 && column < width) st[2] = row[column];
}

// Launch (both): grid (S), block (256). gather: logits (S, V) of dtype, targets (S) int32, output (S) float32.
// accumulate: logits (S, W) of dtype holding columns [first_column, first_column + W), targets (S) int32, state (S, 3).
