// rope.cu — rotary position embedding in place, Hugging Face rotate_half: feature i pairs with i + R/2. x is float32
// or 16-bit (dtype): each pair is read exactly, rotated in float32, and each result rounded once to nearest even.
#include "rope.cuh"

// One block per (batch, position) row.
MEZO_KERNEL void mezo_rope(void* __restrict__ x, int dtype, const int* __restrict__ positions,
                           const float* __restrict__ inv_frequencies, int heads, int head_dim, int half)
{
    mezo_rotate_row(x, positions, inv_frequencies, heads, head_dim, half, 1.0f, dtype);
}

// Launch: grid (B·T), block (min(128, R/2) rounded up to 32); x (B, T, heads, head_dim) of dtype, positions (B·T)
// int32, inv_frequencies (R/2) float32 with R ≤ head_dim.
