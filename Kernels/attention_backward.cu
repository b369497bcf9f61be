// attention_backward.cu — the backward of attention.cu (causal, key padding mask, optional sliding window, GQA):
// the queries' gradient, then the key and value caches' gradients, with no T×Tc matrix stored.
#include "device.cuh"

// Two kernels, FlashAttention-2's split and the CPU twin's (CpuAttentionBackward). With P the softmax weights, O the
// output and dO its gradient, per query δ = dO·O and dS = P ⊙ (dO·Vᵀ − δ):
// 1. mezo_attention_backward_query, one warp per query (b, t, h), lanes over the head's features: the query's scores
//    over the keys it attends, its max and 1/Σ exp(s − max) (kept in stats (B, T, H, 3) with δ), and
//    dQ = scale·Σ_j dS_j·K_j.
// 2. mezo_attention_backward_key, one warp per cache slot (b, j, kvh): every query of every head of the group that
//    attends the slot, in (t, h) order, its weight recomputed from those statistics: dV_j += Σ P·dO and
//    dK_j += scale·Σ dS·Q.
// Determinism: no atomics anywhere. Each gradient element is owned by one lane, which accumulates its terms in a fixed
// order (keys j ascending for dQ; queries t, then heads h, for dK and dV), starting from the gradient's current value
// as the CPU twin does; the dot products are warp sums in a fixed butterfly, which leaves every lane the same value.
// A key/value head therefore sums its query heads without races, and equal inputs give equal bits on every run.
// Scores and weights are formed the same way in both kernels, so both see the same P. A query with no key to attend
// gets a zero gradient; a NaN score, or attended scores all −inf, give NaN gradients, as the forward gives NaN.
// Cost: O(T·Tc·D) per head, the scores recomputed three times in kernel 1 and once in kernel 2.

// ATTENTION_BACKWARD_WARPS and ATTENTION_BACKWARD_MAX_HEAD_DIM come from the launcher (CudaAttentionBackward.Defines).
static_assert(ATTENTION_BACKWARD_MAX_HEAD_DIM % 32 == 0, "a lane owns whole features of a row");
#define ATTENTION_BACKWARD_DIMS_PER_LANE (ATTENTION_BACKWARD_MAX_HEAD_DIM / 32)

/// a·b over one row of head_dim features, the lanes striding over them; every lane gets the sum.
__device__ __forceinline__ float mezo_row_dot(const float* a, const float* b, int head_dim)
{
    float partial = 0.0f;
    for (int d = threadIdx.x & 31; d < head_dim; d += 32) partial = fmaf(a[d], b[d], partial);
    return mezo_warp_sum(partial);
}

MEZO_KERNEL void __launch_bounds__(ATTENTION_BACKWARD_WARPS * 32)
mezo_attention_backward_query(const float* __restrict__ q, const float* __restrict__ key_cache,
                              const float* __restrict__ value_cache, const int* __restrict__ key_mask,
                              const float* __restrict__ output, const float* __restrict__ output_grad,
                              float* __restrict__ q_grad, float* __restrict__ stats, int batch, int length, int heads,
                              int kv_heads, int head_dim, int capacity, int past, int window, float scale)
{
    int lane = threadIdx.x & 31;
    mezo_i64 row = (mezo_i64)blockIdx.x * ATTENTION_BACKWARD_WARPS + (threadIdx.x >> 5); // (b, t, h) in q's order
    if (row >= (mezo_i64)batch * length * heads) return; // the whole warp
    int h = (int)(row % heads), t = (int)(row / heads % length), b = (int)(row / heads / length);
    int kvh = h / (heads / kv_heads);
    const float* query = q + row * head_dim;
    const float* dout = output_grad + row * head_dim;
    const int* mask = key_mask + (mezo_i64)b * capacity;
    const float* keys = key_cache + ((mezo_i64)b * capacity * kv_heads + kvh) * head_dim; // slot j at j·kv_heads·D
    const float* values = value_cache + ((mezo_i64)b * capacity * kv_heads + kvh) * head_dim;
    mezo_i64 slot_stride = (mezo_i64)kv_heads * head_dim;
    int end = past + t + 1, first = window > 0 ? max(0, end - window) : 0;

    float m = -MEZO_INFINITY;
    int attended = 0;
    for (int j = first; j < end; j++)
    {
        if (mask[j] == 0) continue;
        m = mezo_max(m, scale * mezo_row_dot(query, keys + j * slot_stride, head_dim));
        attended++;
    }
    float* st = stats + 3 * row;
    float acc[ATTENTION_BACKWARD_DIMS_PER_LANE];
    MEZO_UNROLL
    for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++) acc[r] = 0.0f;
    float inverse = 0.0f, delta = 0.0f;
    if (attended > 0) // else a padding query: its output is 0 whatever q is
    {
        float sum = 0.0f;
        for (int j = first; j < end; j++)
            if (mask[j] != 0) sum += expf(scale * mezo_row_dot(query, keys + j * slot_stride, head_dim) - m);
        inverse = 1.0f / sum;
        delta = mezo_row_dot(dout, output + row * head_dim, head_dim);
        for (int j = first; j < end; j++)
        {
            if (mask[j] == 0) continue;
            const float* key = keys + j * slot_stride;
            float p = expf(scale * mezo_row_dot(query, key, head_dim) - m) * inverse;
            float coefficient = p * (mezo_row_dot(dout, values + j * slot_stride, head_dim) - delta);
            MEZO_UNROLL
            for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++)
            {
                int d = lane + 32 * r;
                if (d < head_dim) acc[r] = fmaf(key[d], coefficient, acc[r]);
            }
        }
    }
    MEZO_UNROLL
    for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++)
    {
        int d = lane + 32 * r;
        if (d < head_dim) q_grad[row * head_dim + d] = acc[r] * scale;
    }
    if (lane == 0)
    {
        st[0] = m;
        st[1] = inverse;
        st[2] = delta;
    }
}

MEZO_KERNEL void __launch_bounds__(ATTENTION_BACKWARD_WARPS * 32)
mezo_attention_backward_key(const float* __restrict__ q, const float* __restrict__ key_cache,
                            const float* __restrict__ value_cache, const int* __restrict__ key_mask,
                            const float* __restrict__ output_grad, const float* __restrict__ stats,
                            float* __restrict__ key_grad, float* __restrict__ value_grad, int batch, int length,
                            int heads, int kv_heads, int head_dim, int capacity, int past, int window, float scale)
{
    int lane = threadIdx.x & 31, filled = past + length;
    mezo_i64 task = (mezo_i64)blockIdx.x * ATTENTION_BACKWARD_WARPS + (threadIdx.x >> 5); // (b, kvh, j), j fastest
    if (task >= (mezo_i64)batch * kv_heads * filled) return; // the whole warp
    int j = (int)(task % filled), kvh = (int)(task / filled % kv_heads), b = (int)(task / filled / kv_heads);
    if (key_mask[(mezo_i64)b * capacity + j] == 0) return; // never attended: no gradient
    mezo_i64 slot = (((mezo_i64)b * capacity + j) * kv_heads + kvh) * head_dim;
    const float* key = key_cache + slot;
    const float* value = value_cache + slot;
    float dk[ATTENTION_BACKWARD_DIMS_PER_LANE], dv[ATTENTION_BACKWARD_DIMS_PER_LANE];
    MEZO_UNROLL
    for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++)
    {
        int d = lane + 32 * r;
        dk[r] = d < head_dim ? key_grad[slot + d] : 0.0f;
        dv[r] = d < head_dim ? value_grad[slot + d] : 0.0f;
    }
    // The queries at cache positions i = past + t with j ≤ i and, with a window, i − j < window.
    int group = heads / kv_heads;
    int first_query = max(0, j - past), end_query = window > 0 ? min(length, j + window - past) : length;
    for (int i = first_query * group; i < end_query * group; i++) // (t, h) in order: t = i / group, h = kvh·group + i % group
        {
            mezo_i64 row = ((mezo_i64)b * length + i / group) * heads + kvh * group + i % group;
            const float* query = q + row * head_dim;
            const float* dout = output_grad + row * head_dim;
            const float* st = stats + 3 * row;
            float p = expf(scale * mezo_row_dot(query, key, head_dim) - st[0]) * st[1];
            float coefficient = scale * p * (mezo_row_dot(dout, value, head_dim) - st[2]);
            MEZO_UNROLL
            for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++)
            {
                int d = lane + 32 * r;
                if (d < head_dim)
                {
                    dv[r] = fmaf(dout[d], p, dv[r]);
                    dk[r] = fmaf(query[d], coefficient, dk[r]);
                }
            }
        }
    MEZO_UNROLL
    for (int r = 0; r < ATTENTION_BACKWARD_DIMS_PER_LANE; r++)
    {
        int d = lane + 32 * r;
        if (d < head_dim)
        {
            key_grad[slot + d] = dk[r];
            value_grad[slot + d] = dv[r];
        }
    }
}

// Launch (both): block (ATTENTION_BACKWARD_WARPS·32), one warp per task. query: grid ceil(B·T·H / warps); key: grid
// ceil(B·KVH·(past + T) / warps), after the query kernel (it reads stats). q, output, output_grad, q_grad (B, T, H, D);
// caches and their gradients (B, capacity, KVH, D); key_mask (B, capacity) int32; stats (B, T, H, 3) float32 scratch;
// window ≤ 0 for none; D ≤ ATTENTION_BACKWARD_MAX_HEAD_DIM; H a multiple of KVH.
