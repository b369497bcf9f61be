// rope.cuh — one (batch, position) row's rotary rotation, which rope.cu applies and rope_backward.cu undoes.
#pragma once
#include "device.cuh"

// Rotates each pair (i, i + R/2) of every head of the row by `sign`·angle (Hugging Face rotate_half). Thread i < R/2
// computes its angle once: a float32 product as in transformers, cos and sin taken in double and rounded once, as the
// CPU backend does. The backward passes sign −1: the rotation is orthogonal, so its transpose, the rotation by −angle,
// carries the gradient back; negating sin is exact, so both directions form the same cos and sin. x is of storage
// dtype `dtype` (the backward's gradients are float32): each pair is read exactly, rotated in float32 and rounded once.
__device__ __forceinline__ void mezo_rotate_row(void* __restrict__ x, const int* __restrict__ positions,
                                                const float* __restrict__ inv_frequencies, int heads, int head_dim, int half,
                                                float sign, int dtype = MEZO_F32)
{
    int r = blockIdx.x;
    float position = (float)positions[r];
    for (int i = threadIdx.x; i < half; i += blockDim.x)
    {
        float angle = position * inv_frequencies[i];
        double s, c;
        sincos((double)angle, &s, &c);
        float cos_a = (float)c, sin_a = sign * (float)s;
        for (int h = 0; h < heads; h++)
        {
            mezo_i64 v = ((mezo_i64)r * heads + h) * head_dim;
            float a = mezo_load(x, dtype, v + i), b = mezo_load(x, dtype, v + i + half);
            mezo_store(x, dtype, v + i, a * cos_a - b * sin_a);
            mezo_store(x, dtype, v + i + half, b * cos_a + a * sin_a);
        }
    }
}
