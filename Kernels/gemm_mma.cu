// gemm_mma.cu — tensor-core matrix product output(M, N) = x(M, K)·Wᵀ + bias: 16-bit inputs, float32 accumulation.
#include "device.cuh"
#include "mma.cuh"

// The linear layer where cuBLASLt is absent, and the reference cuBLASLt's 16-bit path is checked against. Inputs are
// rounded to bf16 (or f16 for f16 weights) as they are staged into shared memory, so no converted copy of x or W is
// ever stored; 16-bit x of the weights' type passes through that rounding unchanged. x and the output share the
// activation dtype (x_dtype): a 16-bit output is rounded once, from the float32 accumulator plus bias, as it is
// stored. Blocks of 64×64 outputs, four warps of 32×32 (2×4 mma tiles of 16×8), K in slices of 32; shared rows padded
// by 8 elements so the fragment loads of the eight row groups fall in different banks. W is (N, K) as nn.Linear
// stores it, or (K, N) when transposed. Compute capability 8.0 or newer (mma.m16n8k16).

// MMA_TILE and MMA_THREADS come from the launcher (CudaLinear.MmaDefines, passed as -D options), which sizes the grid
// by the same tile; the warp layout below is written for them.
static_assert(MMA_TILE == 2 * 32 && MMA_THREADS == 4 * 32, "four warps of 32x32 outputs");
#define MMA_K 32
#define MMA_PAD 8

template <int Kind>
MEZO_FN mezo_u16 mezo_mma_input(float v)
{
    return Kind == MEZO_MMA_BF16 ? mezo_float_to_bf16(v) : mezo_float_to_half(v);
}

template <int Kind>
__device__ __forceinline__ void mezo_gemm_mma(const void* __restrict__ x, int x_dtype, const void* __restrict__ weight,
                                              int weight_dtype, int transposed, const void* __restrict__ bias,
                                              int bias_dtype, void* __restrict__ output, int m, int n, int k, int epilogue)
{
    __shared__ mezo_u16 x_tile[MMA_TILE][MMA_K + MMA_PAD]; // (rows of x, k)
    __shared__ mezo_u16 w_tile[MMA_TILE][MMA_K + MMA_PAD]; // (columns of the output, k)
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int g = lane >> 2, c = lane & 3;
    int row0 = blockIdx.y * MMA_TILE, col0 = blockIdx.x * MMA_TILE;
    int warp_row = (warp >> 1) * 32, warp_col = (warp & 1) * 32;

    float acc[2][4][4];
    MEZO_UNROLL
    for (int i = 0; i < 2; i++)
        MEZO_UNROLL
        for (int j = 0; j < 4; j++)
            MEZO_UNROLL
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    for (int k0 = 0; k0 < k; k0 += MMA_K)
    {
        for (int e = threadIdx.x; e < MMA_TILE * MMA_K; e += MMA_THREADS)
        {
            int r = e / MMA_K, kk = e % MMA_K;
            int row = row0 + r, col = col0 + r, kg = k0 + kk;
            float xv = row < m && kg < k ? mezo_load(x, x_dtype, (mezo_i64)row * k + kg) : 0.0f;
            mezo_i64 wi = transposed ? (mezo_i64)kg * n + col : (mezo_i64)col * k + kg;
            float wv = col < n && kg < k ? mezo_load(weight, weight_dtype, wi) : 0.0f;
            x_tile[r][kk] = mezo_mma_input<Kind>(xv);
            w_tile[r][kk] = mezo_mma_input<Kind>(wv);
        }
        __syncthreads();
        MEZO_UNROLL
        for (int kk = 0; kk < MMA_K; kk += 16)
        {
            mezo_u32 a[2][4], b[4][2];
            MEZO_UNROLL
            for (int i = 0; i < 2; i++)
            {
                int r = warp_row + i * 16 + g;
                a[i][0] = mezo_pair(&x_tile[r][kk + 2 * c]);
                a[i][1] = mezo_pair(&x_tile[r + 8][kk + 2 * c]);
                a[i][2] = mezo_pair(&x_tile[r][kk + 2 * c + 8]);
                a[i][3] = mezo_pair(&x_tile[r + 8][kk + 2 * c + 8]);
            }
            MEZO_UNROLL
            for (int j = 0; j < 4; j++)
            {
                int col = warp_col + j * 8 + g;
                b[j][0] = mezo_pair(&w_tile[col][kk + 2 * c]);
                b[j][1] = mezo_pair(&w_tile[col][kk + 2 * c + 8]);
            }
            MEZO_UNROLL
            for (int i = 0; i < 2; i++)
                MEZO_UNROLL
                for (int j = 0; j < 4; j++) mezo_mma_16816<Kind>(acc[i][j], a[i], b[j]);
        }
        __syncthreads();
    }

    MEZO_UNROLL
    for (int i = 0; i < 2; i++)
        MEZO_UNROLL
        for (int j = 0; j < 4; j++)
            MEZO_UNROLL
            for (int e = 0; e < 4; e++)
            {
                int row = row0 + warp_row + i * 16 + g + (e >> 1) * 8;
                int col = col0 + warp_col + j * 8 + 2 * c + (e & 1);
                if (row >= m || col >= n) continue;
                float b = bias_dtype == MEZO_NO_TENSOR ? 0.0f : mezo_load(bias, bias_dtype, col);
                mezo_i64 at = (mezo_i64)row * n + col;
                mezo_store(output, x_dtype, at, mezo_product_epilogue(acc[i][j][e] + b, epilogue, output, x_dtype, at));
            }
}

MEZO_KERNEL void __launch_bounds__(MMA_THREADS)
mezo_gemm_mma_bf16(const void* x, int x_dtype, const void* weight, int weight_dtype, int transposed,
                   const void* bias, int bias_dtype, void* output, int m, int n, int k, int epilogue)
{
    mezo_gemm_mma<MEZO_MMA_BF16>(x, x_dtype, weight, weight_dtype, transposed, bias, bias_dtype, output, m, n, k, epilogue);
}

MEZO_KERNEL void __launch_bounds__(MMA_THREADS)
mezo_gemm_mma_f16(const void* x, int x_dtype, const void* weight, int weight_dtype, int transposed,
                  const void* bias, int bias_dtype, void* output, int m, int n, int k, int epilogue)
{
    mezo_gemm_mma<MEZO_MMA_F16>(x, x_dtype, weight, weight_dtype, transposed, bias, bias_dtype, output, m, n, k, epilogue);
}

// Launch: grid (ceil(N / 64), ceil(M / 64)), block (128); x (M, K) of x_dtype; weight (N, K) or (K, N) when
// transposed, of weight_dtype; bias (N) of bias_dtype or MEZO_NO_TENSOR; output (M, N) of x_dtype; epilogue
// MEZO_EPILOGUE_*. Compute capability ≥ 8.0.
