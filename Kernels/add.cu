// add.cu — the residual connection: x += y.
#include "device.cuh"

MEZO_KERNEL void mezo_add(float* __restrict__ x, const float* __restrict__ y, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        x[i] += y[i];
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); x, y (n) float32.
