using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Verification;

/// <summary>The same host values as a tensor on the reference backend and on the candidate.</summary>
internal sealed class TensorPair : IDisposable
{
    private TensorPair(Tensor reference, Tensor candidate)
    {
        Reference = reference;
        Candidate = candidate;
    }

    public Tensor Reference { get; }
    public Tensor Candidate { get; }

    public Tensor On(IBackend backend) => ReferenceEquals(backend, Reference.Backend) ? Reference : Candidate;

    /// <summary>Float values stored as <paramref name="type"/> (rounded to nearest even for 16-bit types).</summary>
    public static TensorPair Floats(IBackend reference, IBackend candidate, float[] values, DType type, string name, params int[] shape)
    {
        var shaped = new TensorShape(shape);
        var pair = new TensorPair(reference.Allocate(shaped, type, MemoryCategory.Activations, name),
            candidate.Allocate(shaped, type, MemoryCategory.Activations, name));
        foreach (var t in new[] { pair.Reference, pair.Candidate }) HostValues.Write(t, values);
        return pair;
    }

    public static TensorPair Ints(IBackend reference, IBackend candidate, int[] values, string name, params int[] shape)
    {
        var shaped = new TensorShape(shape);
        var pair = new TensorPair(reference.Allocate(shaped, DType.I32, MemoryCategory.Activations, name),
            candidate.Allocate(shaped, DType.I32, MemoryCategory.Activations, name));
        reference.Upload<int>(pair.Reference, values);
        candidate.Upload<int>(pair.Candidate, values);
        return pair;
    }

    public static int[] ReadInts(Tensor t)
    {
        var values = new int[t.ElementCount];
        t.Backend.Download<int>(t, values);
        return values;
    }

    public void Dispose()
    {
        Reference.Dispose();
        Candidate.Dispose();
    }
}

/// <summary>Deterministic test values: the same seed gives the same inputs on every machine.</summary>
internal sealed class ParityRandom(int seed)
{
    private readonly Random _random = new(seed);

    /// <summary>Standard normal values times <paramref name="scale"/> (Box–Muller on System.Random's doubles).</summary>
    public float[] Normal(long count, double scale = 1)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            double u = 1 - _random.NextDouble(), v = _random.NextDouble();
            values[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
        return values;
    }

    public int[] Ints(long count, int low, int high)
    {
        var values = new int[count];
        for (long i = 0; i < count; i++) values[i] = _random.Next(low, high);
        return values;
    }
}
