using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// 16-bit activations on the CPU, at <see cref="IBackend"/>'s rounding points: an op's 16-bit operands are widened,
/// exactly, into float32 twins, the float32 op runs on them, and <see cref="Complete"/> rounds each written twin once,
/// to nearest even, into its tensor. The CPU has no 16-bit arithmetic to gain from, so this is no faster than float32:
/// it is the reference that the CUDA backend's 16-bit kernels are compared with. A float32 operand is passed through
/// untouched, so a float32 call costs nothing here. Twins live for one op and are not counted in the backend's
/// memory report, whose figures are the model's arenas.
/// </summary>
internal sealed unsafe class CpuActivationStaging : IDisposable
{
    /// <summary>Elements widened or rounded per task: large enough to amortise a task, small enough to share out.</summary>
    private const int Chunk = 1 << 16;

    // Made on the first 16-bit operand: a float32 call allocates nothing but this object.
    private List<Twin>? _twins;
    private MemoryReport? _untracked;

    /// <summary>t itself when float32, else a float32 copy of its values.</summary>
    public Tensor Read(Tensor t) => Stage(t, widen: true, write: false);

    /// <summary>t itself when float32, else a float32 tensor whose values <see cref="Complete"/> rounds into t.</summary>
    public Tensor Write(Tensor t) => Stage(t, widen: false, write: true);

    /// <summary>An operand updated in place: read, then written back by <see cref="Complete"/>.</summary>
    public Tensor ReadWrite(Tensor t) => Stage(t, widen: true, write: true);

    /// <summary>Rounds every written twin into its tensor: call once the op has succeeded.</summary>
    public void Complete()
    {
        foreach (var twin in _twins ?? [])
        {
            if (!twin.Write) continue;
            nint from = twin.Float32.Address, to = twin.Original.Address;
            var type = twin.Original.DType;
            Chunks(twin.Original.ElementCount, (start, count) =>
                CpuConvert.Store(new ReadOnlySpan<float>((float*)from + start, count), to, type, start));
        }
    }

    private Tensor Stage(Tensor t, bool widen, bool write)
    {
        if (t.DType == DType.F32) return t;
        _twins ??= [];
        for (int i = 0; i < _twins.Count; i++)
        {
            // An op may name one tensor twice (x += x): one twin serves both.
            if (!ReferenceEquals(_twins[i].Original, t)) continue;
            _twins[i] = _twins[i] with { Write = _twins[i].Write || write };
            return _twins[i].Float32;
        }
        var memory = new CpuMemory(t.ElementCount * sizeof(float), _untracked ??= new(), t.Category);
        var twin = new Tensor(t.Backend, memory, t.Shape, DType.F32, t.Name, t.Category);
        if (widen)
        {
            nint from = t.Address, to = twin.Address;
            var type = t.DType;
            Chunks(t.ElementCount, (start, count) => CpuConvert.Load(from, type, start, new Span<float>((float*)to + start, count)));
        }
        _twins.Add(new Twin(t, twin, write));
        return twin;
    }

    private static void Chunks(long elements, Action<long, int> body) =>
        CpuParallel.For((elements + Chunk - 1) / Chunk, 1, (first, end) =>
        {
            for (long c = first; c < end; c++) body(c * Chunk, (int)Math.Min(Chunk, elements - c * Chunk));
        });

    public void Dispose()
    {
        foreach (var twin in _twins ?? []) twin.Float32.Dispose();
        _twins = null;
    }

    private readonly record struct Twin(Tensor Original, Tensor Float32, bool Write);
}
