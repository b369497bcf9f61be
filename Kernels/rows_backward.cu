// rows_backward.cu — the backward of the row ops: scatter-adds of gradient rows into a table (EmbeddingBackward,
// GatherRowsBackward) and the column slice's gradient (SliceColumnsBackward).
#include "device.cuh"

// Determinism: a scatter-add may hit one target row many times (a repeated token, a row picked twice), so float
// atomics would sum in whatever order the threads arrive. Instead each thread owns one column c of the target and
// walks the positions n = 0, 1, … N − 1 in order, adding source[n][c] into target[index[n]][c]: every target element
// is one chain of adds in position order, with no race. That is the CPU twin's order too (CpuRowsBackward splits
// the columns over cores the same way), so the result is bit-identical to it, run after run. The cost is N dependent
// steps per thread and only C threads: fine for a backward pass that runs once per step; a sorted, segmented
// scatter is the way to more parallelism if it ever shows in a profile.
// The CPU twin checks every index before it writes anything; so does each thread here, and a bad index is a fault
// (thread 0 records the first one) with nothing written.
__device__ __forceinline__ void mezo_scatter_add_rows(const float* __restrict__ source, const int* __restrict__ index,
                                                      float* __restrict__ target, int count, int width, int rows,
                                                      int fault_code, int* fault)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    for (int n = 0; n < count; n++)
    {
        int row = index[n];
        if ((unsigned)row >= (unsigned)rows)
        {
            if (c == 0) mezo_report_fault(fault, fault_code, n, row, rows);
            return;
        }
    }
    if (c >= width) return;
    for (int n = 0; n < count; n++) target[(mezo_i64)index[n] * width + c] += source[(mezo_i64)n * width + c];
}

MEZO_KERNEL void mezo_embedding_backward(const float* __restrict__ output_grad, const int* __restrict__ ids,
                                         float* __restrict__ table_grad, int count, int width, int vocab, int* fault)
{
    mezo_scatter_add_rows(output_grad, ids, table_grad, count, width, vocab, MEZO_FAULT_EMBEDDING_BACKWARD_ID, fault);
}

MEZO_KERNEL void mezo_gather_rows_backward(const float* __restrict__ output_grad, const int* __restrict__ rows,
                                           float* __restrict__ input_grad, int count, int width, int available, int* fault)
{
    mezo_scatter_add_rows(output_grad, rows, input_grad, count, width, available, MEZO_FAULT_GATHER_ROWS_BACKWARD_ROW, fault);
}

// inputGrad[:, start : start + W] = outputGrad; the other columns are left alone (q, k and v each write their third).
MEZO_KERNEL void mezo_slice_columns_backward(const float* __restrict__ output_grad, float* __restrict__ input_grad,
                                             int stride, int start, int width, mezo_i64 count)
{
    for (mezo_i64 e = (mezo_i64)blockIdx.x * blockDim.x + threadIdx.x; e < count; e += (mezo_i64)gridDim.x * blockDim.x)
    {
        mezo_i64 row = e / width;
        input_grad[row * stride + start + (e - row * width)] = output_grad[e];
    }
}

// Launch. embedding / gather rows: grid (ceil(max(C, 1) / 256)), block (256); output_grad (N, C) float32, ids or rows
// (N) int32, the table or input gradient (V or available, C) float32, +=.
// slice: grid (min(ceil(count / 256), 65536)), block (256); count = N·W; output_grad (N, W), input_grad (N, stride).
