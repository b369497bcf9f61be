// gather_rows.cu — output(S, C) = x[rows[s]]: picks the positions that need logits. A copy: elements of any activation
// dtype (element_bytes 4 or 2) arrive bit for bit, never rounded.
#include "device.cuh"

MEZO_KERNEL void mezo_gather_rows(const void* __restrict__ x, const int* __restrict__ rows, void* __restrict__ output,
                                  int element_bytes, int width, int available, int* fault)
{
    int s = blockIdx.x;
    int row = rows[s];
    if ((unsigned)row >= (unsigned)available)
    {
        if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_GATHER_ROW, s, row, available);
        return;
    }
    mezo_i64 source = (mezo_i64)row * width, target = (mezo_i64)s * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) mezo_copy_element(output, target + c, x, source + c, element_bytes);
}

// Launch: grid (S), block (256); x (available, width), rows (S) int32, output (S, width), x and output of one dtype of
// element_bytes bytes.
