namespace MeZO.Engine.Backends.Cuda.Runtime;

/// <summary>One column-major matrix as cublasLtMatrixLayoutCreate describes it: rows, columns, leading dimension.</summary>
internal readonly record struct ColumnMajorLayout(long Rows, long Columns, long LeadingDimension);

/// <summary>
/// The row-major output(M, N) = x(M, K)·Wᵀ + bias as the column-major product D = op(A)·B (+ bias per row of D) that
/// cuBLASLt computes. A row-major (R, C) matrix is the column-major (C, R) one, so D is outputᵀ (N, M) and B is x read
/// as (K, M). A is W: nn.Linear's (N, K) reads as (K, N) and is transposed; Conv1D's (K, N) reads as (N, K) and is
/// taken as it is. Row n of D is column n of the output, so the bias epilogue's bias[n] lands where it should.
/// </summary>
internal readonly record struct ColumnMajorProduct(bool TransposeA, ColumnMajorLayout A, ColumnMajorLayout B, ColumnMajorLayout D)
{
    public static ColumnMajorProduct Of(long m, long n, long k, bool weightTransposed) => weightTransposed
        ? new(TransposeA: false, A: new(n, k, n), B: new(k, m, k), D: new(n, m, n))
        : new(TransposeA: true, A: new(k, n, k), B: new(k, m, k), D: new(n, m, n));
}
