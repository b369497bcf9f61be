// rope_backward.cu — the backward of rope.cu, in place: each rotated pair's gradient turned back by −angle.
#include "rope.cuh"

// Features past the rotary ones passed through, and so does their gradient. Compiled with --fmad=false, so the
// rotation rounds as on the CPU twin (CpuRope.Backward): bit-identical wherever the device's double cos/sin round to
// the same float as the host's.
MEZO_KERNEL void mezo_rope_backward(float* __restrict__ grad, const int* __restrict__ positions,
                                    const float* __restrict__ inv_frequencies, int heads, int head_dim, int half)
{
    mezo_rotate_row(grad, positions, inv_frequencies, heads, head_dim, half, -1.0f);
}

// Launch: grid (B·T), block (min(128, R/2) rounded up to 32); grad (B, T, heads, head_dim) float32, positions (B·T)
// int32, inv_frequencies (R/2) float32 with R ≤ head_dim.
