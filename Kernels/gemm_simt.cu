// gemm_simt.cu — float32 matrix product output(M, N) = x(M, K)·Wᵀ + bias on CUDA cores, operands of any float dtype.
#include "device.cuh"

// The linear layer where cuBLASLt is absent and float32 accuracy is asked for, and the float32 reference for the
// tensor-core kernels. Tiles of 64×64 outputs per block of 256 threads, each thread a 4×4 register tile, K in
// slices of 16 staged through shared memory (stored k-major, padded, so the inner loop reads without bank
// conflicts). W is (N, K) as nn.Linear stores it, or (K, N) when transposed (GPT-2's Conv1D). x and the output share
// the activation dtype, W and the bias have their own: each element is widened exactly as it is staged, so operands of
// different dtypes (a float32 LoRA factor or perturbed weight over bf16 activations) need no converted copy, and each
// output is rounded once, as it is stored.

// SIMT_TILE and SIMT_THREADS come from the launcher (CudaLinear.SimtDefines, passed as -D options), which sizes the
// grid by the same tile; each thread below computes a 4×4 tile of a 16×16 grid.
static_assert(SIMT_TILE == 16 * 4 && SIMT_THREADS == 16 * 16, "16x16 threads of 4x4 outputs");
#define SIMT_K 16

MEZO_KERNEL void __launch_bounds__(SIMT_THREADS)
mezo_gemm_simt(const void* __restrict__ x, int x_dtype, const void* __restrict__ weight, int weight_dtype, int transposed,
               const void* __restrict__ bias, int bias_dtype, void* __restrict__ output, int m, int n, int k, int epilogue)
{
    __shared__ float x_tile[SIMT_K][SIMT_TILE + 4];
    __shared__ float w_tile[SIMT_K][SIMT_TILE + 4];
    int row0 = blockIdx.y * SIMT_TILE, col0 = blockIdx.x * SIMT_TILE;
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][4];
    MEZO_UNROLL
    for (int i = 0; i < 4; i++)
        MEZO_UNROLL
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < k; k0 += SIMT_K)
    {
        // 64 rows × 16 k of each operand: four elements per thread, zero outside the matrices.
        for (int e = threadIdx.x; e < SIMT_TILE * SIMT_K; e += SIMT_THREADS)
        {
            int r = e / SIMT_K, kk = e % SIMT_K;
            int row = row0 + r, col = col0 + r, kg = k0 + kk;
            x_tile[kk][r] = row < m && kg < k ? mezo_load(x, x_dtype, (mezo_i64)row * k + kg) : 0.0f;
            mezo_i64 wi = transposed ? (mezo_i64)kg * n + col : (mezo_i64)col * k + kg;
            w_tile[kk][r] = col < n && kg < k ? mezo_load(weight, weight_dtype, wi) : 0.0f;
        }
        __syncthreads();
        MEZO_UNROLL
        for (int kk = 0; kk < SIMT_K; kk++)
        {
            float a[4], b[4];
            MEZO_UNROLL
            for (int i = 0; i < 4; i++) a[i] = x_tile[kk][ty * 4 + i];
            MEZO_UNROLL
            for (int j = 0; j < 4; j++) b[j] = w_tile[kk][tx * 4 + j];
            MEZO_UNROLL
            for (int i = 0; i < 4; i++)
                MEZO_UNROLL
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

    MEZO_UNROLL
    for (int i = 0; i < 4; i++)
    {
        int row = row0 + ty * 4 + i;
        if (row >= m) continue;
        MEZO_UNROLL
        for (int j = 0; j < 4; j++)
        {
            int col = col0 + tx * 4 + j;
            if (col >= n) continue;
            float b = bias_dtype == MEZO_NO_TENSOR ? 0.0f : mezo_load(bias, bias_dtype, col);
            mezo_i64 at = (mezo_i64)row * n + col;
            mezo_store(output, x_dtype, at, mezo_product_epilogue(acc[i][j] + b, epilogue, output, x_dtype, at));
        }
    }
}

// Launch: grid (ceil(N / 64), ceil(M / 64)), block (256); x (M, K) of x_dtype, weight (N, K) or (K, N) when transposed,
// of weight_dtype; bias (N) of bias_dtype or MEZO_NO_TENSOR; output (M, N) of x_dtype; epilogue MEZO_EPILOGUE_*.
// M ≤ 65535·64.
