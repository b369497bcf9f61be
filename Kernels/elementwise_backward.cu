// elementwise_backward.cu — the derivatives of the activations (grad *= f′(input), in place) and of SwiGLU's
// silu(gate)·up (the gate's and the up projection's gradients).
#include "device.cuh"

// Each formula is the CPU twin's (CpuElementwiseBackward), operation for operation, and the file is compiled with
// --fmad=false, so the only differences from the CPU are expf and tanhf themselves (a few ulps); ReLU's gradient is
// bit-identical, and exact GELU's derivative takes erf and exp in double as the CPU does. Every input of an element
// is read before its gradient is written, so a gradient may overwrite a tensor it is computed from.

#define MEZO_ELEMENTWISE_LOOP(i, n) \
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (mezo_i64)gridDim.x * blockDim.x)

/// silu′(x) = σ(x) + silu(x)·(1 − σ(x)); silu(x) = x·σ(x) into *silu.
__device__ __forceinline__ float mezo_silu_derivative(float x, float* silu)
{
    float sigmoid = 1.0f / (1.0f + expf(-x));
    *silu = x * sigmoid;
    return sigmoid + *silu * (1.0f - sigmoid);
}

// PyTorch's threshold_backward: the derivative at 0 is 0, and a NaN input passes its gradient through.
MEZO_KERNEL void mezo_relu_backward(const float* __restrict__ input, float* __restrict__ grad, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n) grad[i] = input[i] <= 0.0f ? 0.0f : grad[i];
}

// d/dx ½x(1 + tanh u), u = √(2/π)·x·(1 + 0.044715x²): ½(1 + t)·(1 + (1 − t)·x·du/dx), t = tanh u.
MEZO_KERNEL void mezo_gelu_tanh_backward(const float* __restrict__ input, float* __restrict__ grad, mezo_i64 n)
{
    const float sqrt_two_over_pi = 0.7978845608028654f, cubic = 0.044715f;
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float x = input[i], square = x * x;
        float t = tanhf((square * cubic + 1.0f) * x * sqrt_two_over_pi);
        float x_du = (square * (3.0f * cubic) + 1.0f) * sqrt_two_over_pi * x;
        grad[i] *= 0.5f * (1.0f + t) * (1.0f + (1.0f - t) * x_du);
    }
}

// d/dx x·Φ(x) = Φ(x) + x·φ(x), in double.
MEZO_KERNEL void mezo_gelu_erf_backward(const float* __restrict__ input, float* __restrict__ grad, mezo_i64 n)
{
    const double inverse_sqrt_two = 0.70710678118654752, inverse_sqrt_two_pi = 0.39894228040143268;
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        double a = input[i];
        grad[i] *= (float)(0.5 * (1.0 + erf(a * inverse_sqrt_two)) + a * inverse_sqrt_two_pi * exp(-0.5 * a * a));
    }
}

MEZO_KERNEL void mezo_silu_backward(const float* __restrict__ input, float* __restrict__ grad, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float silu;
        grad[i] *= mezo_silu_derivative(input[i], &silu);
    }
}

// Of output = silu(gate)·up: gate_grad = silu′(gate)·up·dy, up_grad = silu(gate)·dy.
// No __restrict__: either gradient may be written over gate, up or output_grad.
MEZO_KERNEL void mezo_silu_mul_backward(const float* gate, const float* up, const float* output_grad, float* gate_grad,
                                        float* up_grad, mezo_i64 n)
{
    MEZO_ELEMENTWISE_LOOP(i, n)
    {
        float silu, dy = output_grad[i];
        float derivative = mezo_silu_derivative(gate[i], &silu) * up[i] * dy;
        gate_grad[i] = derivative;
        up_grad[i] = silu * dy;
    }
}

// Launch (all): grid (min(ceil(n / 256), 65536)), block (256); every tensor (n) float32.
