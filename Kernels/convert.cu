// convert.cu — element-wise dtype conversion, for the matrix products' operands (f32 activations to the weights'
// 16-bit type, 16-bit weights or biases widened to float32).
#include "device.cuh"

MEZO_KERNEL void mezo_convert(const void* __restrict__ source, int source_dtype, void* __restrict__ destination,
                              int destination_dtype, mezo_i64 n)
{
    for (mezo_i64 i = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (mezo_i64)gridDim.x * blockDim.x)
        mezo_store(destination, destination_dtype, i, mezo_load(source, source_dtype, i));
}

// Launch: grid (min(ceil(n / 256), 65536)), block (256); source and destination (n) of their dtypes.
