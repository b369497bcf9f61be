// add.cu — the residual connection, x += y, and a LoRA bypass added to its projection, x += scale·y. Compiled with
// --fmad=false: the scaled add rounds the product, then the sum, as the CPU backend does.
#include "device.cuh"

MEZO_KERNEL void mezo_add(float* __restrict__ x, const float* __restrict__ y, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        x[i] += y[i];
}

MEZO_KERNEL void mezo_add_scaled(float* __restrict__ x, const float* __restrict__ y, float scale, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        x[i] += scale * y[i];
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); x, y (n) float32.
