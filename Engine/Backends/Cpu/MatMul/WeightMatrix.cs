using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// The right operand B(K,N) of C = A·B as stored in a checkpoint: an nn.Linear weight (N,K), read transposed, or a
/// GPT-2 Conv1D weight (K,N) when <see cref="Transposed"/>; elements of any float storage dtype.
/// </summary>
internal readonly unsafe struct WeightMatrix(void* address, DType type, bool transposed, int n, int k)
{
    public void* Address { get; } = address;
    public DType Type { get; } = type;
    /// <summary>Stored (K,N) instead of (N,K).</summary>
    public bool Transposed { get; } = transposed;
    public int N { get; } = n;
    public int K { get; } = k;

    /// <summary>Element index of B(k, n) in storage.</summary>
    public long IndexOf(int k, int n) => Transposed ? (long)k * N + n : (long)n * K + k;

    /// <summary>B(k, n) as float32.</summary>
    public float Load<TFormat>(int k, int n) where TFormat : struct, IStorageFormat => TFormat.Load(Address, IndexOf(k, n));
}
