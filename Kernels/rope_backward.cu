// rope_backward.cu — the backward of rope.cu, in place: each rotated pair's gradient turned back by −angle.
#include "device.cuh"

// The rotation [[cos, −sin], [sin, cos]] is orthogonal, so its transpose, the rotation by −angle, carries the
// gradient back; features past the rotary ones passed through and so does their gradient. Angle, cos and sin are
// formed exactly as the forward (and the CPU twin, CpuRopeBackward) forms them, and the file is compiled with
// --fmad=false, so a·cos + b·sin rounds as on the CPU: the result is bit-identical wherever the device's double
// cos/sin round to the same float as the host's.
MEZO_KERNEL void mezo_rope_backward(float* __restrict__ grad, const int* __restrict__ positions,
                                    const float* __restrict__ inv_frequencies, int heads, int head_dim, int half)
{
    int r = blockIdx.x;
    float position = (float)positions[r];
    for (int i = threadIdx.x; i < half; i += blockDim.x)
    {
        float angle = position * inv_frequencies[i];
        double s, c;
        sincos((double)angle, &s, &c);
        float cos_a = (float)c, sin_a = (float)s;
        for (int h = 0; h < heads; h++)
        {
            float* g = grad + ((mezo_i64)r * heads + h) * head_dim;
            float a = g[i], b = g[i + half];
            g[i] = a * cos_a + b * sin_a;
            g[i + half] = b * cos_a - a * sin_a;
        }
    }
}

// Launch: grid (B·T), block (min(128, R/2) rounded up to 32); grad (B, T, heads, head_dim) float32, positions (B·T)
// int32, inv_frequencies (R/2) float32 with R ≤ head_dim.
