// embedding.cu — token (or learned position) embedding: output[n] = table[ids[n]], or += for learned positions.
#include "device.cuh"

// One block per row n; the threads stride over the width. An id outside the table is a fault (the row is left
// untouched), raised by the backend at the next synchronisation.
MEZO_KERNEL void mezo_embedding(const void* __restrict__ table, int table_dtype, const int* __restrict__ ids,
                                float* __restrict__ output, int width, int vocab, int accumulate, int* fault)
{
    int n = blockIdx.x;
    int id = mezo_embedding_id(ids, n, vocab, fault);
    if (id < 0) return;
    mezo_i64 source = (mezo_i64)id * width;
    float* out = output + (mezo_i64)n * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float value = mezo_load(table, table_dtype, source + c);
        out[c] = accumulate ? out[c] + value : value;
    }
}

// Launch: grid (N), block (256); table (V, C) of table_dtype, ids (N) int32, output (N, C) float32.
