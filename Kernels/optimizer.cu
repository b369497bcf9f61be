// optimizer.cu — backprop's element-wise updates, SGD and AdamW as torch.optim defines them, and the partial sums of
// the gradient's squared norm. Compiled with --fmad=false: each element takes the same float32 roundings, in the same
// order, as its CPU twin (CpuOptimizer), so an update is bit-identical on both backends given the same gradient.
//
// theta is what takes the step: a 16-bit parameter's float32 master, or a float32 parameter itself. A 16-bit
// parameter (dtype MEZO_F16 or MEZO_BF16) then holds theta rounded to nearest even; MEZO_NO_TENSOR for none.
#include "device.cuh"

MEZO_KERNEL void mezo_sgd_update(float* __restrict__ theta, const float* __restrict__ grad, void* __restrict__ parameter, int dtype,
    float lr, float weight_decay, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
    {
        float d = grad[i];
        if (weight_decay != 0.0f) d += weight_decay * theta[i];
        float p = theta[i] - lr * d;
        theta[i] = p;
        if (dtype != MEZO_NO_TENSOR) mezo_store(parameter, dtype, i, p);
    }
}

MEZO_KERNEL void mezo_adamw_update(float* __restrict__ theta, const float* __restrict__ grad, float* __restrict__ m, float* __restrict__ v,
    void* __restrict__ parameter, int dtype, float decay, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
    float step_size, float bias_correction2_sqrt, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
    {
        float g = grad[i];
        float p = theta[i] * decay;
        float mi = beta1 * m[i] + one_minus_beta1 * g;
        float vi = beta2 * v[i] + one_minus_beta2 * g * g;
        float denom = sqrtf(vi) / bias_correction2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p = p - step_size * (mi / denom);
        theta[i] = p;
        if (dtype != MEZO_NO_TENSOR) mezo_store(parameter, dtype, i, p);
    }
}

// A 16-bit weight's master copy before the first step: exact, every 16-bit value is a float32.
MEZO_KERNEL void mezo_widen(const void* __restrict__ parameter, int dtype, float* __restrict__ master, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        master[i] = mezo_load(parameter, dtype, i);
}

MEZO_KERNEL void mezo_scale(float* __restrict__ x, float factor, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        x[i] *= factor;
}

// Block b sums x² over elements [b·chunk, (b + 1)·chunk) into partials[b], in double: the host adds the partials in
// block order, so the norm does not depend on timing (it may differ from the CPU's in the last bits: only clipping and
// the non-finite check read it). A NaN or ±∞ element makes its partial, and so the sum, non-finite.
MEZO_KERNEL void mezo_sum_of_squares(const float* __restrict__ x, double* __restrict__ partials, mezo_i64 chunk, mezo_i64 n)
{
    __shared__ double scratch[32];
    mezo_i64 start = (mezo_i64)blockIdx.x * chunk, end = start + chunk < n ? start + chunk : n;
    double sum = 0.0;
    for (mezo_i64 i = start + threadIdx.x; i < end; i += blockDim.x)
    {
        double e = x[i];
        sum += e * e;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    MEZO_UNROLL
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(MEZO_FULL_MASK, sum, offset);
    if (lane == 0) scratch[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0)
    {
        double total = 0.0;
        for (int w = 0; w < warps; w++) total += scratch[w];
        partials[blockIdx.x] = total;
    }
}

// Launch: the updates, mezo_widen and mezo_scale grid (min(ceil(n / 256), 65536)), block (256); mezo_sum_of_squares grid
// (ceil(n / chunk)), block (256), chunk = 16384 elements.
