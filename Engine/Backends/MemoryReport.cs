using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends;

/// <summary>Bytes allocated by a backend, by category, now and at their peak.</summary>
public sealed class MemoryReport
{
    private readonly long[] _current = new long[Enum.GetValues<MemoryCategory>().Length];
    private readonly long[] _peak = new long[Enum.GetValues<MemoryCategory>().Length];
    private long _peakTotal;
    private readonly Lock _lock = new();

    public long Current(MemoryCategory category) { lock (_lock) return _current[(int)category]; }
    public long Peak(MemoryCategory category) { lock (_lock) return _peak[(int)category]; }

    public long CurrentTotal { get { lock (_lock) return _current.Sum(); } }

    /// <summary>The largest total ever held at one time.</summary>
    public long PeakTotal { get { lock (_lock) return _peakTotal; } }

    internal void Add(MemoryCategory category, long bytes)
    {
        lock (_lock)
        {
            _current[(int)category] += bytes;
            _peak[(int)category] = Math.Max(_peak[(int)category], _current[(int)category]);
            _peakTotal = Math.Max(_peakTotal, _current.Sum());
        }
    }

    internal void Remove(MemoryCategory category, long bytes)
    {
        lock (_lock) _current[(int)category] -= bytes;
    }

    public override string ToString()
    {
        lock (_lock)
            return string.Join(", ", Enum.GetValues<MemoryCategory>().Select(c =>
                $"{c.ToString().ToLowerInvariant()} {_current[(int)c] / 1048576.0:F1} MiB"));
    }
}
