// kv_append.cu — writes new keys and values into the KV caches at positions [past, past + T). A copy: elements of any
// activation dtype (element_bytes 4 or 2) arrive bit for bit, never rounded.
#include "device.cuh"

// Element-wise with a grid-stride loop; a row is KVH·D elements, contiguous in both source and cache.
MEZO_KERNEL void mezo_kv_append(const void* __restrict__ keys, const void* __restrict__ values, void* __restrict__ key_cache,
                                void* __restrict__ value_cache, int element_bytes, int length, int capacity, int row_width,
                                int past, mezo_i64 count)
{
    mezo_i64 per_batch = (mezo_i64)length * row_width;
    for (mezo_i64 e = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (mezo_i64)gridDim.x * blockDim.x)
    {
        mezo_i64 b = e / per_batch, within = e - b * per_batch;
        mezo_i64 target = (b * capacity + past) * (mezo_i64)row_width + within;
        mezo_copy_element(key_cache, target, keys, e, element_bytes);
        mezo_copy_element(value_cache, target, values, e, element_bytes);
    }
}

// Launch: grid (min(ceil(count / 256), 65536)), block (256); count = B·T·KVH·D; keys, values (B, T, KVH, D);
// caches (B, capacity, KVH, D), past + T ≤ capacity; every tensor of one dtype of element_bytes bytes.
