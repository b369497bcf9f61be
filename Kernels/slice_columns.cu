// slice_columns.cu — output(N, W) = x[:, start : start + W]: splits GPT-2's fused q/k/v projection.
#include "device.cuh"

MEZO_KERNEL void mezo_slice_columns(const float* __restrict__ x, float* __restrict__ output, int stride, int start,
                                    int width, mezo_i64 count)
{
    for (mezo_i64 e = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (mezo_i64)gridDim.x * blockDim.x)
    {
        mezo_i64 row = e / width;
        output[e] = x[row * stride + start + (e - row * width)];
    }
}

// Launch: grid (min(ceil(count / 256), 65536)), block (256); count = N·W; x (N, stride), output (N, W) float32.
