// embedding.cu — token (or learned position) embedding: output[n] = table[ids[n]], or += for learned positions.
// Activations may be float32 or 16-bit (output_dtype): a value is computed in float32 (the table element widened, the
// sum of +=) and rounded once, to nearest even, when stored.
#include "device.cuh"

// One block per row n; the threads stride over the width. An id outside the table is a fault (the row is left
// untouched), raised by the backend at the next synchronisation.
MEZO_KERNEL void mezo_embedding(const void* __restrict__ table, int table_dtype, const int* __restrict__ ids,
                                void* __restrict__ output, int output_dtype, int width, int vocab, int accumulate, int* fault)
{
    int n = blockIdx.x;
    int id = mezo_embedding_id(ids, n, vocab, fault);
    if (id < 0) return;
    mezo_i64 source = (mezo_i64)id * width, target = (mezo_i64)n * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        float value = mezo_load(table, table_dtype, source + c);
        if (accumulate) value += mezo_load(output, output_dtype, target + c);
        mezo_store(output, output_dtype, target + c, value);
    }
}

// Launch: grid (N), block (256); table (V, C) of table_dtype, ids (N) int32, output (N, C) of output_dtype.
