// silu_mul.cu — the gated MLP's gate = silu(gate)·up, in place on gate.
#include "device.cuh"

MEZO_KERNEL void mezo_silu_mul(float* __restrict__ gate, const float* __restrict__ up, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
    {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); gate, up (n) float32.
