// silu_mul.cu — the gated MLP's gate = silu(gate)·up, in place on gate. gate and up are float32 or 16-bit (dtype):
// read exactly, multiplied in float32, each result rounded once to nearest even.
#include "device.cuh"

MEZO_KERNEL void mezo_silu_mul(void* __restrict__ gate, const void* __restrict__ up, int dtype, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
    {
        float g = mezo_load(gate, dtype, i);
        mezo_store(gate, dtype, i, g / (1.0f + expf(-g)) * mezo_load(up, dtype, i));
    }
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); gate, up (n) of dtype.
