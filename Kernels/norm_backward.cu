// norm_backward.cu — the backward of LayerNorm and RMSNorm over the last axis: each row's statistics, the chunked
// parameter-gradient partials, and each row's input gradient.
#include "norm.cuh"

// Three steps, in the CPU twin's order (CpuNormsBackward): (1) per row, mean and rstd exactly as layernorm.cu and
// rmsnorm.cu compute them, into stats (rows, 2); (2) per (row chunk, column), the partial sums of outputGrad·x̂ (and
// of outputGrad, LayerNorm's bias) in row order, which column_sums.cu's finish kernel then adds in chunk order into
// the parameter gradients — no atomics, so the same bits on every run; (3) per row, the input gradient. Parameter
// gradients come before input gradients so that an input gradient written over the output gradient (one buffer)
// still leaves the parameter sums right.
//   LayerNorm: inputGrad = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = outputGrad·w, x̂ = (x − mean)·rstd.
//   RMSNorm:   inputGrad = rstd·(g − x·rstd²·mean(g·x)).
// The arithmetic per element is the CPU twin's; the row reductions are float32 sums in another order. RMSNorm's
// mean is stored as 0, so one partials kernel serves both.

MEZO_KERNEL void mezo_layernorm_backward_stats(const float* __restrict__ x, float eps, float* __restrict__ stats, int width)
{
    __shared__ float scratch[32];
    float mean, rstd;
    mezo_layernorm_stats(x + (mezo_i64)blockIdx.x * width, width, eps, scratch, &mean, &rstd);
    if (threadIdx.x == 0)
    {
        stats[2 * (mezo_i64)blockIdx.x] = mean;
        stats[2 * (mezo_i64)blockIdx.x + 1] = rstd;
    }
}

MEZO_KERNEL void mezo_rmsnorm_backward_stats(const float* __restrict__ x, float eps, float* __restrict__ stats, int width)
{
    __shared__ float scratch[32];
    float rstd = mezo_rmsnorm_rstd(x + (mezo_i64)blockIdx.x * width, width, eps, scratch);
    if (threadIdx.x == 0)
    {
        stats[2 * (mezo_i64)blockIdx.x] = 0.0f;
        stats[2 * (mezo_i64)blockIdx.x + 1] = rstd;
    }
}

// partials (chunks, width): Σ outputGrad·x̂ over the chunk's rows; with bias_partials, also Σ outputGrad.
MEZO_KERNEL void mezo_norm_backward_partials(const float* __restrict__ x, const float* __restrict__ stats,
                                             const float* __restrict__ output_grad, int rows, int width, int chunk_rows,
                                             float* __restrict__ weight_partials, float* __restrict__ bias_partials)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= width) return;
    int first = chunk * chunk_rows, end = min(rows, first + chunk_rows);
    float weight_sum = 0.0f, bias_sum = 0.0f;
    for (int r = first; r < end; r++)
    {
        mezo_i64 e = (mezo_i64)r * width + c;
        float dy = output_grad[e];
        float xhat = (x[e] - stats[2 * r]) * stats[2 * r + 1];
        weight_sum = fmaf(dy, xhat, weight_sum);
        bias_sum += dy;
    }
    weight_partials[(mezo_i64)chunk * width + c] = weight_sum;
    if (bias_partials) bias_partials[(mezo_i64)chunk * width + c] = bias_sum;
}

// No __restrict__ on the gradients: input_grad may be output_grad's buffer. Each thread reads its elements of
// output_grad before it writes the same elements of input_grad, and the row sums are complete (a barrier) first.
MEZO_KERNEL void mezo_layernorm_backward_input(const float* __restrict__ x, const void* __restrict__ weight, int weight_dtype,
                                               const float* __restrict__ stats, const float* output_grad,
                                               float* input_grad, int width)
{
    __shared__ float scratch[32];
    mezo_i64 base = (mezo_i64)blockIdx.x * width;
    float mean = stats[2 * (mezo_i64)blockIdx.x], rstd = stats[2 * (mezo_i64)blockIdx.x + 1];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float g = output_grad[base + c] * mezo_load(weight, weight_dtype, c);
        sum_g += g;
        sum_gx = fmaf(g, (x[base + c] - mean) * rstd, sum_gx);
    }
    float mean_g = mezo_block_sum(sum_g, scratch) / width;
    float mean_gx = mezo_block_sum(sum_gx, scratch) / width;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float g = output_grad[base + c] * mezo_load(weight, weight_dtype, c);
        float xhat = (x[base + c] - mean) * rstd;
        input_grad[base + c] = (fmaf(xhat, -mean_gx, g) - mean_g) * rstd;
    }
}

MEZO_KERNEL void mezo_rmsnorm_backward_input(const float* __restrict__ x, const void* __restrict__ weight, int weight_dtype,
                                             const float* __restrict__ stats, const float* output_grad, float* input_grad,
                                             int width)
{
    __shared__ float scratch[32];
    mezo_i64 base = (mezo_i64)blockIdx.x * width;
    float rstd = stats[2 * (mezo_i64)blockIdx.x + 1];
    float sum_gx = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
        sum_gx = fmaf(output_grad[base + c] * mezo_load(weight, weight_dtype, c), x[base + c], sum_gx);
    float factor = -rstd * rstd * (mezo_block_sum(sum_gx, scratch) / width);
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float g = output_grad[base + c] * mezo_load(weight, weight_dtype, c);
        input_grad[base + c] = fmaf(x[base + c], factor, g) * rstd;
    }
}

// Launch. stats and input: grid (rows), block (256, whole warps); x, output_grad, input_grad (rows, width) float32,
// weight (width) of weight_dtype, stats (rows, 2) float32. partials: grid (ceil(width / 256), chunks =
// ceil(rows / chunk_rows)), block (256); weight_partials and bias_partials (chunks, width) float32, bias_partials
// null for RMSNorm; then column_sums.cu's finish adds each into its gradient.
