// add.cu — the residual connection, x += y, and a LoRA bypass added to its projection, x += scale·y. Compiled with
// --fmad=false: the scaled add rounds the product, then the sum, as the CPU backend does. x and y are float32 or
// 16-bit (dtype): read exactly, added in float32, each sum rounded once to nearest even.
#include "device.cuh"

MEZO_KERNEL void mezo_add(void* __restrict__ x, const void* __restrict__ y, int dtype, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        mezo_store(x, dtype, i, mezo_load(x, dtype, i) + mezo_load(y, dtype, i));
}

MEZO_KERNEL void mezo_add_scaled(void* __restrict__ x, const void* __restrict__ y, int dtype, float scale, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        mezo_store(x, dtype, i, mezo_load(x, dtype, i) + scale * mezo_load(y, dtype, i));
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); x, y (n) of dtype.
