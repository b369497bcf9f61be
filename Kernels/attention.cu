// attention.cu — causal attention with a key padding mask and an optional sliding window over the KV cache: online
// softmax, tiled, no T×T matrix.
#include "device.cuh"

// A block serves QUERIES consecutive query positions of one (batch, head); its four warps own QUERIES / 4 queries each.
// Keys and values stream through shared memory in tiles of 32 (one key per lane when scoring). Each query keeps a
// running max m, a running denominator l and its output row (spread over the lanes, dims lane + 32·r) in registers,
// rescaled whenever the max grows (Milakov & Gimelshein 2018; FlashAttention's forward pass). Scores and the output
// are float32, as the CPU backend computes them.
// A query that may attend no key at all (a padding position) gets zeros, exactly as IBackend.Attention specifies; a
// NaN score, or attended scores that are all -inf, make its output NaN (never zeros, which would hide the fault).
// With a sliding window (window > 0) query position i attends keys j with i − j < window: a block starts its key
// tiles at its first query's first key, so tiles entirely before every window are never loaded and a long sequence
// costs O(T·window) rather than O(T²); a query skips, warp-uniformly, the tiles entirely before its own window.
// q, the caches and the output are float32 or 16-bit (dtype): 16-bit elements are widened exactly as they enter the
// float32 tiles, everything after is the float32 computation, and each output element is rounded once, to nearest
// even. This is the general kernel, for every head width and both 16-bit types; a tensor-core kernel may serve the
// 16-bit shapes it is built for.

// ATTENTION_QUERIES, ATTENTION_WARPS, ATTENTION_KEYS and ATTENTION_MAX_HEAD_DIM come from the launcher
// (CudaAttention.Defines, passed as -D options), which sizes the grid and the shared memory by the same numbers.
static_assert(ATTENTION_KEYS == 32, "one key per lane when scoring");
static_assert(ATTENTION_QUERIES % ATTENTION_WARPS == 0, "a warp owns whole queries");
static_assert(ATTENTION_MAX_HEAD_DIM % 32 == 0, "a lane owns whole dims of an output row");
#define ATTENTION_QUERIES_PER_WARP (ATTENTION_QUERIES / ATTENTION_WARPS)
#define ATTENTION_DIMS_PER_LANE (ATTENTION_MAX_HEAD_DIM / 32)

MEZO_KERNEL void __launch_bounds__(ATTENTION_WARPS * 32)
mezo_attention(const void* __restrict__ q, const void* __restrict__ key_cache, const void* __restrict__ value_cache,
               int dtype, const int* __restrict__ key_mask, void* __restrict__ output, int length, int heads, int kv_heads,
               int head_dim, int capacity, int past, int window, float scale)
{
    // Dynamic shared memory: keys (32, D + 1) padded so lanes reading different keys hit different banks,
    // values (32, D), this block's queries (QUERIES, D), the tile's mask (32).
    MEZO_DYNAMIC_SHARED(float, shared);
    float* key_tile = shared;
    float* value_tile = key_tile + ATTENTION_KEYS * (head_dim + 1);
    float* query_tile = value_tile + ATTENTION_KEYS * head_dim;
    int* mask_tile = (int*)(query_tile + ATTENTION_QUERIES * head_dim);

    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int first_query = blockIdx.x * ATTENTION_QUERIES;
    int h = blockIdx.y, b = blockIdx.z;
    int kvh = h / (heads / kv_heads);
    int last_query = min(length - 1, first_query + ATTENTION_QUERIES - 1);
    int key_end = past + last_query + 1; // keys [key_begin, key_end) can matter to some query of this block
    int key_begin = window > 0 ? max(0, past + first_query - window + 1) : 0;

    for (int i = threadIdx.x; i < ATTENTION_QUERIES * head_dim; i += blockDim.x)
    {
        int t = first_query + i / head_dim, d = i % head_dim;
        query_tile[i] = t < length ? mezo_load(q, dtype, (((mezo_i64)b * length + t) * heads + h) * head_dim + d) : 0.0f;
    }

    float running_max[ATTENTION_QUERIES_PER_WARP], denominator[ATTENTION_QUERIES_PER_WARP];
    float acc[ATTENTION_QUERIES_PER_WARP][ATTENTION_DIMS_PER_LANE];
    MEZO_UNROLL
    for (int qq = 0; qq < ATTENTION_QUERIES_PER_WARP; qq++)
    {
        running_max[qq] = -MEZO_INFINITY;
        denominator[qq] = 0.0f;
        MEZO_UNROLL
        for (int r = 0; r < ATTENTION_DIMS_PER_LANE; r++) acc[qq][r] = 0.0f;
    }

    for (int key0 = key_begin; key0 < key_end; key0 += ATTENTION_KEYS)
    {
        __syncthreads(); // the previous tile has been consumed (and, the first time, the queries are in place)
        for (int i = threadIdx.x; i < ATTENTION_KEYS * head_dim; i += blockDim.x)
        {
            int j = i / head_dim, d = i % head_dim, key = key0 + j;
            bool inside = key < key_end;
            mezo_i64 source = (((mezo_i64)b * capacity + key) * kv_heads + kvh) * head_dim + d;
            key_tile[j * (head_dim + 1) + d] = inside ? mezo_load(key_cache, dtype, source) : 0.0f;
            value_tile[j * head_dim + d] = inside ? mezo_load(value_cache, dtype, source) : 0.0f;
        }
        if (threadIdx.x < ATTENTION_KEYS)
        {
            int key = key0 + threadIdx.x;
            mask_tile[threadIdx.x] = key < key_end ? key_mask[(mezo_i64)b * capacity + key] : 0;
        }
        __syncthreads();

        MEZO_UNROLL
        for (int qq = 0; qq < ATTENTION_QUERIES_PER_WARP; qq++)
        {
            int local = warp * ATTENTION_QUERIES_PER_WARP + qq;
            int t = first_query + local;
            int last_key = past + t; // causal: keys up to the query's own position
            // May be negative: the window reaches past key 0. (Kept as two comparisons below: folding them into one
            // unsigned range test made ptxas spill on sm_90.)
            int first_key = window > 0 ? last_key - window + 1 : 0;
            if (t >= length || key0 > last_key || key0 + ATTENTION_KEYS <= first_key) continue; // uniform across the warp

            int key = key0 + lane;
            bool attend = key >= first_key && key <= last_key && mask_tile[lane] != 0;
            float score = -MEZO_INFINITY;
            if (attend)
            {
                const float* query = query_tile + local * head_dim;
                const float* k = key_tile + lane * (head_dim + 1);
                float dot = 0.0f;
                for (int d = 0; d < head_dim; d++) dot = fmaf(query[d], k[d], dot);
                score = scale * dot;
            }
            // Whether any lane attends, not the tile's maximum, tells an empty tile: scores that overflowed to -inf
            // must go on to exp(-inf - -inf) = NaN, as on the CPU.
            if (!__any_sync(MEZO_FULL_MASK, attend)) continue; // nothing to attend in this tile
            float tile_max = mezo_warp_max(score);

            float new_max = mezo_max(running_max[qq], tile_max);
            float rescale = expf(running_max[qq] - new_max); // 0 the first time (exp(-inf))
            float p = attend ? expf(score - new_max) : 0.0f;
            denominator[qq] = denominator[qq] * rescale + mezo_warp_sum(p);
            running_max[qq] = new_max;
            MEZO_UNROLL
            for (int r = 0; r < ATTENTION_DIMS_PER_LANE; r++) acc[qq][r] *= rescale;
            MEZO_UNROLL // unrolled, each shuffle reads a fixed lane (and ptxas 11.8 spills on sm_90 otherwise)
            for (int j = 0; j < ATTENTION_KEYS; j++)
            {
                float pj = __shfl_sync(MEZO_FULL_MASK, p, j);
                if (pj == 0.0f) continue; // masked, beyond the causal limit or before the window: uniform across the warp
                const float* v = value_tile + j * head_dim;
                MEZO_UNROLL
                for (int r = 0; r < ATTENTION_DIMS_PER_LANE; r++)
                {
                    int d = lane + 32 * r;
                    if (d < head_dim) acc[qq][r] = fmaf(pj, v[d], acc[qq][r]);
                }
            }
        }
    }

    MEZO_UNROLL
    for (int qq = 0; qq < ATTENTION_QUERIES_PER_WARP; qq++)
    {
        int t = first_query + warp * ATTENTION_QUERIES_PER_WARP + qq;
        if (t >= length) continue;
        float inverse = denominator[qq] == 0.0f ? 0.0f : 1.0f / denominator[qq]; // no key attended: zeros; NaN stays
        mezo_i64 out = (((mezo_i64)b * length + t) * heads + h) * head_dim;
        MEZO_UNROLL
        for (int r = 0; r < ATTENTION_DIMS_PER_LANE; r++)
        {
            int d = lane + 32 * r;
            if (d < head_dim) mezo_store(output, dtype, out + d, acc[qq][r] * inverse);
        }
    }
}

// Launch: grid (ceil(T / 16), H, B), block (128), dynamic shared memory
// 4·(32·(D + 1) + 32·D + 16·D + 32) bytes (above 48 KiB the launcher raises the kernel's limit first).
// q, output (B, T, H, D) and caches (B, capacity, KVH, D) of dtype, the caches holding past + T valid positions;
// key_mask (B, capacity) int32; window ≤ 0 for none; D ≤ 256, H a multiple of KVH.
