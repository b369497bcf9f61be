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

    /// <summary>
    /// Makes one block whose parts hold different categories, counted as if each part were allocated on its own:
    /// <paramref name="allocate"/> charges the whole block to <paramref name="charged"/> (a backend allocation has one
    /// category), and its bytes are then moved to <paramref name="parts"/> (bytes by category, summing to the block)
    /// with the peaks they would have had. <see cref="Unsplit"/> moves them back before the block is freed.
    /// </summary>
    internal T AllocateSplit<T>(MemoryCategory charged, IReadOnlyList<long> parts, Func<T> allocate)
    {
        // Held across the allocation (Lock is reentrant), so no other allocation sees or sets the interim peak.
        lock (_lock)
        {
            long[] peaks = (long[])_peak.Clone();
            long peakTotal = _peakTotal;
            var block = allocate();
            _current[(int)charged] -= parts.Sum();
            for (int c = 0; c < _current.Length; c++)
            {
                _current[c] += parts[c];
                _peak[c] = Math.Max(peaks[c], _current[c]);
            }
            _peakTotal = Math.Max(peakTotal, _current.Sum());
            return block;
        }
    }

    /// <summary>Undoes <see cref="AllocateSplit"/>, so that freeing the block removes what it charged.</summary>
    internal void Unsplit(MemoryCategory charged, IReadOnlyList<long> parts)
    {
        lock (_lock)
        {
            for (int c = 0; c < _current.Length; c++) _current[c] -= parts[c];
            _current[(int)charged] += parts.Sum();
        }
    }

    public override string ToString()
    {
        lock (_lock)
            return string.Join(", ", Enum.GetValues<MemoryCategory>().Select(c =>
                $"{c.ToString().ToLowerInvariant()} {_current[(int)c] / 1048576.0:F1} MiB"));
    }
}
