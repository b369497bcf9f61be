// transpose.cu — destination(columns, rows) = source[:, first : first + columns]ᵀ: the left operand of a linear
// layer's weight gradient (Aᵀ·B with A (M, ·)), which the matrix products take row-major only.
#include "device.cuh"

// Tiles of 32×32 through shared memory, so both the reads (along a source row) and the writes (along a destination
// row) are coalesced; the tile is padded by one column so the transposed reads hit 32 different banks. Copies only:
// the result is exact. TRANSPOSE_TILE and TRANSPOSE_ROWS come from the launcher (CudaLinearBackward.TransposeDefines,
// passed as -D options), which sizes the grid and the block by the same numbers.
static_assert(TRANSPOSE_TILE == 32, "a warp reads one tile row");
static_assert(TRANSPOSE_TILE % TRANSPOSE_ROWS == 0, "the block's rows step through whole tiles");

MEZO_KERNEL void __launch_bounds__(TRANSPOSE_TILE * TRANSPOSE_ROWS)
mezo_transpose(const float* __restrict__ source, int rows, int stride, int first, int columns, float* __restrict__ destination)
{
    __shared__ float tile[TRANSPOSE_TILE][TRANSPOSE_TILE + 1];
    int column0 = blockIdx.x * TRANSPOSE_TILE, row0 = blockIdx.y * TRANSPOSE_TILE;
    int tx = threadIdx.x % TRANSPOSE_TILE, ty = threadIdx.x / TRANSPOSE_TILE;
    for (int r = ty; r < TRANSPOSE_TILE; r += TRANSPOSE_ROWS)
    {
        int row = row0 + r, column = column0 + tx;
        if (row < rows && column < columns) tile[r][tx] = source[(mezo_i64)row * stride + first + column];
    }
    __syncthreads();
    for (int c = ty; c < TRANSPOSE_TILE; c += TRANSPOSE_ROWS)
    {
        int column = column0 + c, row = row0 + tx;
        if (row < rows && column < columns) destination[(mezo_i64)column * rows + row] = tile[tx][c];
    }
}

// Launch: grid (ceil(columns / 32), ceil(rows / 32)), block (256 = 32 × 8); source (rows, stride) float32,
// destination (columns, rows) float32.
