// rope.cu — rotary position embedding in place, Hugging Face rotate_half: feature i pairs with i + R/2.
#include "device.cuh"

// One block per (batch, position) row; thread i < R/2 computes its angle once and rotates that pair in every head.
// The angle is a float32 product as in transformers; cos and sin are taken in double and rounded once, as the CPU
// backend does, so both see the same rotation.
MEZO_KERNEL void mezo_rope(float* __restrict__ x, const int* __restrict__ positions,
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
            float* v = x + ((mezo_i64)r * heads + h) * head_dim;
            float a = v[i], b = v[i + half];
            v[i] = a * cos_a - b * sin_a;
            v[i + half] = b * cos_a + a * sin_a;
        }
    }
}

// Launch: grid (B·T), block (min(128, R/2) rounded up to 32); x (B, T, heads, head_dim), positions (B·T) int32,
// inv_frequencies (R/2) float32 with R ≤ head_dim.
