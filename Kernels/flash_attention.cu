// flash_attention.cu — causal attention for bf16/f16 activations on tensor cores (mma.sync m16n8k16), FlashAttention-2 style.
#include "device.cuh"
#include "mma.cuh"

// The 16-bit twin of attention.cu, with IBackend.Attention's semantics unchanged: q, the caches and the output share one
// dtype (bf16 or f16), key_mask is int32; causal with a past length, a padding mask, an optional sliding window, GQA;
// a query with no key to attend gets zeros; attended scores holding a NaN, or all -inf, make the output NaN.
//
// Numerics, in order:
//   S = Q·Kᵀ         mma.sync m16n8k16, the 16-bit inputs as stored, float32 accumulation
//   S·scale, masks   float32; a key a query may not attend scores -inf and weighs exactly 0
//   softmax          online (Milakov & Gimelshein 2018) in float32: per query row a running max m and denominator l, the
//                    output rescaled by exp(m_old - m_new) whenever m grows; l sums the float32 weights p
//   O += P·V         P rounded to the input dtype (round to nearest even) for the mma, float32 accumulation
//   out = O / l      float32 (O times 1/l), rounded to nearest even to the dtype once, when stored
// So against the float32 reference each weight carries one 16-bit rounding (relative 2^-8 in bf16, 2^-11 in f16) and
// the output one more; everything else is float32 and differs from the reference only in summation order.
//
// Tiling: a block serves FLASH_QUERIES consecutive queries of one (batch, head); each of its FLASH_WARPS warps owns 16
// query rows, one mma tile high. Keys and values stream through shared memory in tiles of FLASH_KEYS, or of
// FLASH_WIDE_KEYS for D above 128 (which keeps the block's shared memory within the 99 KiB of compute capability 8.6
// and 8.9, and frees registers for the wider output tile). The block's
// queries are staged once; their A fragments are re-read from shared memory at every key tile (holding them in
// registers, next to a 16 × 256 float32 output tile, would spill at D = 256). With a window (window > 0) query i attends
// keys j with i − j < window: the block starts its tiles at its first query's first key, so tiles before every window
// are never loaded and a long sequence costs O(T·window); a warp skips the tiles outside all of its rows' windows.
//
// A non-finite value in V would reach, through the mma's 0·NaN, every row of the tile, even rows that may not attend
// its key. V is therefore staged with non-finite values replaced by zero, and in the (block-uniform, rare) tile that
// had one, each row adds p·v for the attended keys' non-finite values afterwards: exactly the float32 result's NaN/inf.

// FLASH_QUERIES, FLASH_WARPS, FLASH_KEYS, FLASH_WIDE_KEYS and FLASH_PAD come from the launcher (CudaFlashAttention.Defines,
// passed as -D options), which sizes the grid and the shared memory by the same numbers.
static_assert(FLASH_QUERIES == 16 * FLASH_WARPS, "a warp owns 16 query rows, one mma tile high");
static_assert(FLASH_PAD == 8, "the padding that spreads fragment loads over the banks (see below)");

// Fragment layout (mma.cuh), with g = lane / 4 and c = lane % 4. A warp's 16 rows of S for the 8 keys 8n..8n+7 are one
// mma D tile: a thread holds s[n][0..1] = S[g][8n+2c, 8n+2c+1] and s[n][2..3] = S[g+8][same keys]. The A operand of
// P·V for keys 16k..16k+15 wants A[g][16k+2c..] (a0), A[g+8][16k+2c..] (a1), A[g][16k+8+2c..] (a2), A[g+8][16k+8+2c..]
// (a3): exactly s[2k][0..1], s[2k][2..3], s[2k+1][0..1], s[2k+1][2..3] of the same thread, so P never leaves registers
// (it is packed two 16-bit weights a register, the lower key in the low half). The output tile is the same layout over
// dims: o[n] holds O[g][8n+2c..] and O[g+8][8n+2c..].
// Shared memory, 16-bit elements, with Keys the key tile's length: queries (FLASH_QUERIES, D + PAD) and keys
// (Keys, D + PAD) row-major, so a B fragment of Kᵀ (b0 = K[8n+g][16k+2c..]) is one 32-bit load; values transposed,
// (D, Keys + PAD), so the B fragment of V (b0 = V[16k+2c..][8n+g]) is one too. Rows padded by 8 elements: for any D a
// multiple of 16 (and Keys one too) a row is then an odd multiple of 4 words from the next, so the eight rows g of a
// fragment load start in distinct groups of 4 banks and its 32 lanes (g, c) hit 32 distinct banks.

/// Rounds two float32 values to the input dtype (nearest even) and packs them, `low` in the low half.
template <int Kind>
__device__ __forceinline__ mezo_u32 mezo_flash_pack(float low, float high)
{
#if defined(MEZO_DEVICE_COMPILE) && __CUDA_ARCH__ >= 800
    mezo_u32 packed; // cvt's first source goes to the upper half
    if (Kind == MEZO_MMA_BF16) asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(high), "f"(low));
    else asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(high), "f"(low));
    return packed;
#else
    if (Kind == MEZO_MMA_BF16) return (mezo_u32)mezo_float_to_bf16(low) | ((mezo_u32)mezo_float_to_bf16(high) << 16);
    return (mezo_u32)mezo_float_to_half(low) | ((mezo_u32)mezo_float_to_half(high) << 16);
#endif
}

template <int Kind>
__device__ __forceinline__ float mezo_flash_widen(mezo_u16 bits)
{
    return Kind == MEZO_MMA_BF16 ? mezo_bf16_to_float(bits) : mezo_half_to_float(bits);
}

/// Whether a 16-bit value is ±inf or NaN: its exponent field is all ones.
template <int Kind>
__device__ __forceinline__ bool mezo_flash_non_finite(mezo_u16 bits)
{
    mezo_u16 exponent = Kind == MEZO_MMA_BF16 ? 0x7F80 : 0x7C00;
    return (bits & exponent) == exponent;
}

/// The 16-bit element e (0..7) of eight held in a 16-byte word.
__device__ __forceinline__ mezo_u16 mezo_flash_element(const uint4& v, int e)
{
    mezo_u32 word = e < 2 ? v.x : e < 4 ? v.y : e < 6 ? v.z : v.w;
    return (mezo_u16)(word >> (16 * (e & 1)));
}

// MaxDim bounds the head dim (D ≤ MaxDim, a multiple of 16): it sizes the output tile held in registers, so each
// launcher bucket (64, 128, 256) keeps only the registers it needs. Keys is the bucket's key tile.
template <int Kind, int MaxDim, int Keys>
__device__ __forceinline__ void mezo_flash_attention(const mezo_u16* __restrict__ q, const mezo_u16* __restrict__ key_cache,
                                                     const mezo_u16* __restrict__ value_cache, const int* __restrict__ key_mask,
                                                     mezo_u16* __restrict__ output, int length, int heads, int kv_heads,
                                                     int head_dim, int capacity, int past, int window, float scale)
{
    static_assert(Keys % 16 == 0 && Keys <= 64, "whole k-steps of P·V; a lane's attend bits fit one 32-bit word");
    static_assert(FLASH_WARPS * 16 <= 64 + FLASH_PAD, "the rare pass's weights (16 rows a warp) fit the key tile at D = 64");
    const int row_stride = head_dim + FLASH_PAD, value_stride = Keys + FLASH_PAD;
    MEZO_DYNAMIC_SHARED(uint4, shared); // declared in 16-byte words: the staging stores are 16 bytes wide
    mezo_u16* query_tile = (mezo_u16*)shared;                     // (FLASH_QUERIES, D + PAD)
    mezo_u16* key_tile = query_tile + FLASH_QUERIES * row_stride; // (Keys, D + PAD)
    mezo_u16* value_tile = key_tile + Keys * row_stride;          // (D, Keys + PAD), transposed
    int* key_ok = (int*)(value_tile + head_dim * value_stride);   // (Keys): inside the cache and unmasked
    int* bad_key = key_ok + Keys;                                 // (Keys): key0 of the tile whose V row was non-finite
    int* bad_tile = bad_key + Keys;                               // key0 of the last tile that held a non-finite V
    // The rare pass's weights, (FLASH_WARPS, 16, Keys) 16-bit, reuse the key tile (the launcher asks D ≥ 64).
    mezo_u16* weights = key_tile;

    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int g = lane >> 2, c = lane & 3;
    int first_query = blockIdx.x * FLASH_QUERIES;
    int h = blockIdx.y, b = blockIdx.z;
    int kvh = h / (heads / kv_heads);
    int last_query = min(length - 1, first_query + FLASH_QUERIES - 1);
    int key_end = past + last_query + 1; // keys [key_begin, key_end) can matter to some query of this block
    int key_begin = window > 0 ? max(0, past + first_query - window + 1) : 0;
    int chunks = head_dim / 8;           // 16-byte pieces of a row

    for (int i = threadIdx.x; i < FLASH_QUERIES * chunks; i += FLASH_WARPS * 32)
    {
        int r = i / chunks, d = (i % chunks) * 8, t = first_query + r;
        uint4 v = { 0, 0, 0, 0 };
        if (t < length) v = *(const uint4*)(q + (((mezo_i64)b * length + t) * heads + h) * head_dim + d);
        *(uint4*)(query_tile + r * row_stride + d) = v;
    }
    if (threadIdx.x < Keys) bad_key[threadIdx.x] = -1;
    if (threadIdx.x == 0) *bad_tile = -1;

    // This warp's rows: the thread's two, t_low (g) and t_high (g + 8), and the warp's span [warp_first, warp_last].
    int warp_first = first_query + warp * 16, warp_last = min(length - 1, warp_first + 15);
    int t_low = warp_first + g, t_high = t_low + 8;
    float running_max[2] = { -MEZO_INFINITY, -MEZO_INFINITY }, denominator[2] = { 0.0f, 0.0f }; // l: this thread's keys only
    float o[MaxDim / 8][4];
    MEZO_UNROLL
    for (int n = 0; n < MaxDim / 8; n++)
        MEZO_UNROLL
        for (int e = 0; e < 4; e++) o[n][e] = 0.0f;

    for (int key0 = key_begin; key0 < key_end; key0 += Keys)
    {
        __syncthreads(); // the previous tile has been consumed (and, the first time, the queries and flags are in place)
        // Consecutive threads take consecutive keys at the same 8 dims: their transposed V stores then fall in distinct
        // banks (threads at dims 8 apart would all hit one); each 32-byte sector of a row is still read whole, its two
        // halves by threads Keys apart.
        for (int i = threadIdx.x; i < Keys * chunks; i += FLASH_WARPS * 32)
        {
            int j = i % Keys, d = (i / Keys) * 8, key = key0 + j;
            uint4 k = { 0, 0, 0, 0 }, v = { 0, 0, 0, 0 };
            if (key < key_end)
            {
                mezo_i64 source = (((mezo_i64)b * capacity + key) * kv_heads + kvh) * head_dim + d;
                k = *(const uint4*)(key_cache + source);
                v = *(const uint4*)(value_cache + source);
            }
            *(uint4*)(key_tile + j * row_stride + d) = k;
            MEZO_UNROLL
            for (int e = 0; e < 8; e++)
            {
                mezo_u16 x = mezo_flash_element(v, e);
                if (mezo_flash_non_finite<Kind>(x))
                {
                    x = 0; // added back, to the rows that attend it, by the rare pass below
                    bad_key[j] = key0;
                    *bad_tile = key0;
                }
                value_tile[(d + e) * value_stride + j] = x;
            }
        }
        if (threadIdx.x < Keys)
        {
            int key = key0 + threadIdx.x;
            key_ok[threadIdx.x] = key < key_end && key_mask[(mezo_i64)b * capacity + key] != 0;
        }
        __syncthreads();

        // Uniform across the warp: whether any of its rows may attend a key of this tile: not past the last row's
        // causal limit, not before the first row's window.
        bool active = warp_first < length && key0 <= past + warp_last &&
                      (window <= 0 || key0 + Keys > past + warp_first - window + 1);
        mezo_u32 packed[Keys / 8][2]; // P in the input dtype: rows g and g + 8 of keys 8n + 2c, 8n + 2c + 1
        mezo_u32 attends = 0;         // bit 4n + e: this thread's element s[n][e] is attended
        if (active)
        {
            float s[Keys / 8][4];
            MEZO_UNROLL
            for (int n = 0; n < Keys / 8; n++)
                MEZO_UNROLL
                for (int e = 0; e < 4; e++) s[n][e] = 0.0f;
            const mezo_u16* query_rows = query_tile + (warp * 16 + g) * row_stride;
            MEZO_UNROLL
            for (int k = 0; k < MaxDim / 16; k++)
            {
                if (16 * k >= head_dim) break;
                int d = 16 * k + 2 * c;
                mezo_u32 a[4] = { mezo_pair(query_rows + d), mezo_pair(query_rows + 8 * row_stride + d),
                                  mezo_pair(query_rows + d + 8), mezo_pair(query_rows + 8 * row_stride + d + 8) };
                MEZO_UNROLL
                for (int n = 0; n < Keys / 8; n++)
                {
                    const mezo_u16* key_row = key_tile + (8 * n + g) * row_stride;
                    mezo_u32 bk[2] = { mezo_pair(key_row + d), mezo_pair(key_row + d + 8) };
                    mezo_mma_16816<Kind>(s[n], a, bk);
                }
            }

            // Scale, mask, and each row's maximum over the tile; a row's four threads (one quad) share their findings.
            float tile_max[2] = { -MEZO_INFINITY, -MEZO_INFINITY };
            MEZO_UNROLL
            for (int n = 0; n < Keys / 8; n++)
                MEZO_UNROLL
                for (int e = 0; e < 4; e++)
                {
                    int j = 8 * n + 2 * c + (e & 1), key = key0 + j, t = e < 2 ? t_low : t_high;
                    // (Two comparisons for the window, as in attention.cu: the first key may be negative.)
                    bool attend = t < length && key <= past + t && (window <= 0 || key > past + t - window) && key_ok[j] != 0;
                    s[n][e] = attend ? scale * s[n][e] : -MEZO_INFINITY;
                    if (attend)
                    {
                        attends |= 1u << (4 * n + e);
                        tile_max[e >> 1] = mezo_max(tile_max[e >> 1], s[n][e]);
                    }
                }
            float rescale[2];
            MEZO_UNROLL
            for (int r = 0; r < 2; r++)
            {
                mezo_u32 mine = attends & (r == 0 ? 0x33333333u : 0xCCCCCCCCu);
                int any = mine != 0;
                any |= __shfl_xor_sync(MEZO_FULL_MASK, any, 1);
                any |= __shfl_xor_sync(MEZO_FULL_MASK, any, 2);
                tile_max[r] = mezo_max(tile_max[r], __shfl_xor_sync(MEZO_FULL_MASK, tile_max[r], 1));
                tile_max[r] = mezo_max(tile_max[r], __shfl_xor_sync(MEZO_FULL_MASK, tile_max[r], 2));
                // Whether the row attends a key here, not its maximum, tells an empty tile: attended scores that
                // overflowed to -inf must go on to exp(-inf - -inf) = NaN, as on the CPU.
                rescale[r] = 1.0f;
                if (any)
                {
                    float new_max = mezo_max(running_max[r], tile_max[r]);
                    rescale[r] = expf(running_max[r] - new_max); // 0 the first time (exp(-inf))
                    running_max[r] = new_max;
                }
            }

            float sum[2] = { 0.0f, 0.0f };
            MEZO_UNROLL
            for (int n = 0; n < Keys / 8; n++)
            {
                float p[4];
                MEZO_UNROLL
                for (int e = 0; e < 4; e++)
                {
                    p[e] = (attends >> (4 * n + e)) & 1u ? expf(s[n][e] - running_max[e >> 1]) : 0.0f;
                    sum[e >> 1] += p[e];
                }
                packed[n][0] = mezo_flash_pack<Kind>(p[0], p[1]);
                packed[n][1] = mezo_flash_pack<Kind>(p[2], p[3]);
            }
            MEZO_UNROLL
            for (int r = 0; r < 2; r++) denominator[r] = denominator[r] * rescale[r] + sum[r];
            MEZO_UNROLL
            for (int n = 0; n < MaxDim / 8; n++)
                MEZO_UNROLL
                for (int e = 0; e < 4; e++) o[n][e] *= rescale[e >> 1];

            MEZO_UNROLL
            for (int k = 0; k < Keys / 16; k++)
            {
                mezo_u32 a[4] = { packed[2 * k][0], packed[2 * k][1], packed[2 * k + 1][0], packed[2 * k + 1][1] };
                MEZO_UNROLL
                for (int n = 0; n < MaxDim / 8; n++)
                {
                    if (8 * n >= head_dim) break;
                    const mezo_u16* value_row = value_tile + (8 * n + g) * value_stride + 16 * k + 2 * c;
                    mezo_u32 bv[2] = { mezo_pair(value_row), mezo_pair(value_row + 8) };
                    mezo_mma_16816<Kind>(o[n], a, bv);
                }
            }
        }

        // The rare pass (uniform across the block): add p·v for the non-finite values the mma saw as zeros. Each warp
        // lays its weights out by (row, key) in the key tile, which every warp has finished reading; 0xFFFF (a NaN)
        // marks a key the row may not attend, and is skipped as an attended NaN weight may be too: that row's
        // denominator is NaN already.
        if (*bad_tile == key0)
        {
            __syncthreads();
            mezo_u16* mine = weights + warp * 16 * Keys;
            if (active)
            {
                MEZO_UNROLL
                for (int n = 0; n < Keys / 8; n++)
                    MEZO_UNROLL
                    for (int e = 0; e < 4; e++)
                    {
                        int j = 8 * n + 2 * c + (e & 1), row = g + 8 * (e >> 1);
                        mezo_u16 bits = (mezo_u16)(packed[n][e >> 1] >> (16 * (e & 1)));
                        mine[row * Keys + j] = (attends >> (4 * n + e)) & 1u ? bits : (mezo_u16)0xFFFF;
                    }
            }
            __syncthreads();
            if (active)
            {
                for (int j = 0; j < Keys; j++)
                {
                    if (bad_key[j] != key0) continue;
                    float p_low = mezo_flash_widen<Kind>(mine[g * Keys + j]);
                    float p_high = mezo_flash_widen<Kind>(mine[(g + 8) * Keys + j]);
                    const mezo_u16* v = value_cache + (((mezo_i64)b * capacity + key0 + j) * kv_heads + kvh) * head_dim;
                    MEZO_UNROLL
                    for (int n = 0; n < MaxDim / 8; n++)
                    {
                        if (8 * n >= head_dim) break;
                        MEZO_UNROLL
                        for (int e = 0; e < 2; e++)
                        {
                            mezo_u16 x = v[8 * n + 2 * c + e];
                            if (!mezo_flash_non_finite<Kind>(x)) continue; // the mma has added it
                            float value = mezo_flash_widen<Kind>(x);
                            if (p_low == p_low) o[n][e] = fmaf(p_low, value, o[n][e]);
                            if (p_high == p_high) o[n][2 + e] = fmaf(p_high, value, o[n][2 + e]);
                        }
                    }
                }
            }
        }
    }

    MEZO_UNROLL
    for (int r = 0; r < 2; r++)
    {
        denominator[r] += __shfl_xor_sync(MEZO_FULL_MASK, denominator[r], 1);
        denominator[r] += __shfl_xor_sync(MEZO_FULL_MASK, denominator[r], 2);
    }
    MEZO_UNROLL
    for (int r = 0; r < 2; r++)
    {
        int t = r == 0 ? t_low : t_high;
        if (t >= length) continue;
        float inverse = denominator[r] == 0.0f ? 0.0f : 1.0f / denominator[r]; // no key attended: zeros; NaN stays
        mezo_u16* out = output + (((mezo_i64)b * length + t) * heads + h) * head_dim;
        MEZO_UNROLL
        for (int n = 0; n < MaxDim / 8; n++)
        {
            if (8 * n >= head_dim) break;
            *(mezo_u32*)(out + 8 * n + 2 * c) = mezo_flash_pack<Kind>(o[n][2 * r] * inverse, o[n][2 * r + 1] * inverse);
        }
    }
}

#define MEZO_FLASH_ATTENTION_KERNEL(max_dim, keys)                                                                                 \
    MEZO_KERNEL void __launch_bounds__(FLASH_WARPS * 32)                                                                    \
    mezo_flash_attention_##max_dim(const mezo_u16* q, const mezo_u16* key_cache, const mezo_u16* value_cache,               \
                                   const int* key_mask, mezo_u16* output, int length, int heads, int kv_heads,             \
                                   int head_dim, int capacity, int past, int window, float scale, int dtype)               \
    {                                                                                                                       \
        if (dtype == MEZO_BF16)                                                                                             \
            mezo_flash_attention<MEZO_MMA_BF16, max_dim, keys>(q, key_cache, value_cache, key_mask, output, length, heads,        \
                                                         kv_heads, head_dim, capacity, past, window, scale);                \
        else                                                                                                                \
            mezo_flash_attention<MEZO_MMA_F16, max_dim, keys>(q, key_cache, value_cache, key_mask, output, length, heads,         \
                                                        kv_heads, head_dim, capacity, past, window, scale);                 \
    }

MEZO_FLASH_ATTENTION_KERNEL(64, FLASH_KEYS)
MEZO_FLASH_ATTENTION_KERNEL(128, FLASH_KEYS)
MEZO_FLASH_ATTENTION_KERNEL(256, FLASH_WIDE_KEYS)

// Launch: mezo_flash_attention_<N> with N the smallest of 64, 128, 256 not below D; grid (ceil(T / FLASH_QUERIES), H, B),
// block (FLASH_WARPS · 32), dynamic shared memory 2·((FLASH_QUERIES + K)·(D + 8) + D·(K + 8)) + 4·(2·K + 1) bytes
// with K = FLASH_KEYS, or FLASH_WIDE_KEYS for N = 256 (above 48 KiB the runtime raises the kernel's limit first).
// q, output (B, T, H, D) and caches (B, capacity, KVH, D) of dtype (MEZO_BF16 or MEZO_F16), 16-byte aligned; the caches
// hold past + T valid positions; key_mask (B, capacity) int32; window ≤ 0 for none; 64 ≤ D ≤ 256 a multiple of 16; H a
// multiple of KVH. Compute capability ≥ 8.0.
