// activation.cu — element-wise activations in place: ReLU, GELU (tanh approximation), GELU (erf), SiLU. x is float32 or
// 16-bit (dtype): each element is read exactly, activated in float32 and rounded once to nearest even.
#include "device.cuh"

// The formulas are the CPU backend's, operation for operation; exact GELU takes erf in double as the CPU does.

#define MEZO_ELEMENTWISE_LOOP(i, n) \
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (mezo_i64)gridDim.x * blockDim.x)

MEZO_KERNEL void mezo_relu(void* __restrict__ x, int dtype, mezo_i64 n)
{
    // NaN stays NaN, as on the CPU
    MEZO_ELEMENTWISE_LOOP(i, n) mezo_store(x, dtype, i, mezo_max(mezo_load(x, dtype, i), 0.0f));
}

MEZO_KERNEL void mezo_gelu_tanh(void* __restrict__ x, int dtype, mezo_i64 n)
{
    const float sqrt_two_over_pi = 0.7978845608028654f;
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float a = mezo_load(x, dtype, i);
        mezo_store(x, dtype, i, 0.5f * a * (1.0f + tanhf(sqrt_two_over_pi * (a + 0.044715f * a * a * a))));
    }
}

MEZO_KERNEL void mezo_gelu_erf(void* __restrict__ x, int dtype, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        double a = mezo_load(x, dtype, i);
        mezo_store(x, dtype, i, (float)(0.5 * a * (1.0 + erf(a / sqrt(2.0)))));
    }
}

MEZO_KERNEL void mezo_silu(void* __restrict__ x, int dtype, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float a = mezo_load(x, dtype, i);
        mezo_store(x, dtype, i, a / (1.0f + expf(-a)));
    }
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); x (n) of dtype.
