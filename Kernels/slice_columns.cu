// slice_columns.cu — output(N, W) = x[:, start : start + W]: splits GPT-2's fused q/k/v projection, and copies a
// prefix's columns into keys and values. Between tensors of one dtype it copies the bits; between dtypes each value is
// widened exactly and, when narrowed, rounded once to nearest even (a float32 prefix sliced into 16-bit keys).
#include "device.cuh"

MEZO_KERNEL void mezo_slice_columns(const void* __restrict__ x, int x_dtype, void* __restrict__ output, int output_dtype,
                                    int stride, int start, int width, mezo_i64 count)
{
    bool copy = x_dtype == output_dtype; // uniform: a same-dtype slice never rounds, NaN payloads included
    int bytes = mezo_dtype_bytes(x_dtype);
    for (mezo_i64 e = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (mezo_i64)gridDim.x * blockDim.x)
    {
        mezo_i64 row = e / width, source = row * stride + start + (e - row * width);
        if (copy) mezo_copy_element(output, e, x, source, bytes);
        else mezo_store(output, output_dtype, e, mezo_load(x, x_dtype, source));
    }
}

// Launch: grid (min(ceil(count / 256), 65536)), block (256); count = N·W; x (N, stride) of x_dtype, output (N, W) of
// output_dtype.
