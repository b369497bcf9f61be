// column_sums.cu — deterministic sums over the rows of a matrix, per column: a bias's gradient (the column sums of
// the output gradient) and the last step of the norms' parameter gradients (norm_backward.cu).
#include "device.cuh"

// Determinism without atomics, in two steps whose split depends on the shape alone: the rows are cut into chunks of
// chunk_rows, one thread per (chunk, column) sums its chunk in row order into partials (chunks, width); then one
// thread per column adds the chunks' partials in chunk order, and adds that total to the destination (+=, so a
// gradient sums over calls; the total is formed from zero first, as the CPU twin's is). The same inputs give the same
// bits on every run and every GPU. (The CPU twin sums each column in one chain over all rows, so the two differ by
// the float32 reassociation only.)

MEZO_KERNEL void mezo_column_sums_partial(const float* __restrict__ values, int rows, int width, int chunk_rows,
                                          float* __restrict__ partials)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= width) return;
    int first = chunk * chunk_rows, end = min(rows, first + chunk_rows);
    float sum = 0.0f;
    for (int r = first; r < end; r++) sum += values[(mezo_i64)r * width + c];
    partials[(mezo_i64)chunk * width + c] = sum;
}

MEZO_KERNEL void mezo_column_sums_finish(const float* __restrict__ partials, int chunks, int width, float* __restrict__ sums)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= width) return;
    float total = 0.0f;
    for (int chunk = 0; chunk < chunks; chunk++) total += partials[(mezo_i64)chunk * width + c];
    sums[c] += total;
}

// Launch. partial: grid (ceil(width / 256), chunks = ceil(rows / chunk_rows)), block (256); values (rows, width),
// partials (chunks, width) float32. finish: grid (ceil(width / 256)), block (256); sums (width) float32, +=.
