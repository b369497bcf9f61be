namespace MeZO.Engine.Backends.Cpu.MatMul;

/// <summary>
/// A grow-only, 64-byte-aligned float scratch buffer for packed operands. Each thread keeps its own (thread-static
/// fields of the callers), so it grows to the largest product that thread has run and is then reused without
/// allocating; it lives on the pinned object heap and goes with its thread.
/// </summary>
internal sealed unsafe class PackBuffer
{
    private const int AlignmentFloats = 16;

    private float[] _array = [];
    private float* _start;
    private long _capacity;

    /// <summary>At least <paramref name="floats"/> aligned floats; contents are undefined.</summary>
    public float* Get(long floats)
    {
        if (floats > _capacity)
        {
            int length = checked((int)(floats + AlignmentFloats));
            _array = GC.AllocateUninitializedArray<float>(length, pinned: true);
            fixed (float* p = _array)
            {
                // Pinned-heap arrays never move, so the aligned pointer stays valid for the array's lifetime.
                nint misalignment = (nint)p & (AlignmentFloats * sizeof(float) - 1);
                _start = misalignment == 0 ? p : (float*)((byte*)p + (AlignmentFloats * sizeof(float) - misalignment));
            }
            _capacity = floats;
        }
        return _start;
    }
}
