// activation.cu — element-wise activations in place: ReLU, GELU (tanh approximation), GELU (erf), SiLU.
#include "device.cuh"

// The formulas are the CPU backend's, operation for operation; exact GELU takes erf in double as the CPU does.

#define MEZO_ELEMENTWISE_LOOP(i, n) \
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (mezo_i64)gridDim.x * blockDim.x)

MEZO_KERNEL void mezo_relu(float* __restrict__ x, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n) x[i] = mezo_max(x[i], 0.0f); // NaN stays NaN, as on the CPU
}

MEZO_KERNEL void mezo_gelu_tanh(float* __restrict__ x, mezo_i64 n)
{
    const float sqrt_two_over_pi = 0.7978845608028654f;
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float a = x[i];
        x[i] = 0.5f * a * (1.0f + tanhf(sqrt_two_over_pi * (a + 0.044715f * a * a * a)));
    }
}

MEZO_KERNEL void mezo_gelu_erf(float* __restrict__ x, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        double a = x[i];
        x[i] = (float)(0.5 * a * (1.0 + erf(a / sqrt(2.0))));
    }
}

MEZO_KERNEL void mezo_silu(float* __restrict__ x, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n) x[i] = x[i] / (1.0f + expf(-x[i]));
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); x (n) float32.
