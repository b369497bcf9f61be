// gather_rows.cu — output(S, C) = x[rows[s]]: picks the positions that need logits.
#include "device.cuh"

MEZO_KERNEL void mezo_gather_rows(const float* __restrict__ x, const int* __restrict__ rows, float* __restrict__ output,
                                  int width, int available, int* fault)
{
    int s = blockIdx.x;
    int row = rows[s];
    if ((unsigned)row >= (unsigned)available)
    {
        if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_GATHER_ROW, s, row, available);
        return;
    }
    const float* source = x + (mezo_i64)row * width;
    float* out = output + (mezo_i64)s * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[c] = source[c];
}

// Launch: grid (S), block (256); x (available, width), rows (S) int32, output (S, width) float32.
