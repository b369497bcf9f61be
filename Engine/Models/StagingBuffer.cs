using System.Runtime.InteropServices;

namespace MeZO.Engine.Models;

/// <summary>
/// The host buffer through which weights move between checkpoint files and a backend, in chunks of at most
/// <see cref="ChunkBytes"/>: a tensor of any size (a span stops at 2 GiB) moves with bounded memory. The buffer is native
/// memory, so saving or loading a large model puts nothing the size of a tensor, or of a chunk, on the garbage-collected
/// heap. It is allocated on first use at the size asked for (a small model never takes the whole chunk), grown up to
/// <see cref="ChunkBytes"/>, and freed on <see cref="Dispose"/>.
/// </summary>
internal sealed unsafe class StagingBuffer : IDisposable
{
    /// <summary>
    /// 64 MiB: per-chunk costs (a driver call, a write system call, a copy through pinned staging) vanish at this size,
    /// and it is small beside any model whose tensors come near it.
    /// </summary>
    public const int DefaultChunkBytes = 64 << 20;

    /// <summary>
    /// The largest element (8 bytes, I64), which also covers the 6 bytes one element of a converting copy takes (its
    /// float32 value and its 16-bit result): every chunk holds at least one element.
    /// </summary>
    public const int MinChunkBytes = 8;

    private byte* _memory;
    private int _allocated;
    private bool _disposed;

    public StagingBuffer(int chunkBytes = DefaultChunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, MinChunkBytes);
        ChunkBytes = chunkBytes;
    }

    /// <summary>The most bytes one chunk takes: the bound on this buffer and on every span a chunked copy hands out.</summary>
    public int ChunkBytes { get; }

    /// <summary>
    /// Splits <paramref name="elements"/> elements of <paramref name="bytesPerElement"/> bytes into consecutive runs
    /// (first element, count) of at most one chunk each, the last one partial: chunking by whole elements means that no
    /// chunk boundary ever falls inside an element. None for an empty tensor.
    /// </summary>
    public IEnumerable<(long First, int Count)> Chunks(long elements, int bytesPerElement)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytesPerElement, MinChunkBytes);
        int perChunk = ChunkBytes / bytesPerElement;
        for (long first = 0; first < elements; first += perChunk)
            yield return (first, (int)Math.Min(perChunk, elements - first));
    }

    /// <summary>The bytes the largest run of <see cref="Chunks"/> takes.</summary>
    public int LargestChunk(long elements, int bytesPerElement) => (int)Math.Min(ChunkBytes / bytesPerElement, elements) * bytesPerElement;

    /// <summary>
    /// The first <paramref name="bytes"/> bytes of the buffer (at most <see cref="ChunkBytes"/>), 64-byte aligned;
    /// the contents are unspecified and valid until the next call or <see cref="Dispose"/>.
    /// </summary>
    public Span<byte> Take(int bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, ChunkBytes);
        if (bytes > _allocated)
        {
            Free();
            _memory = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            _allocated = bytes;
        }
        return new Span<byte>(_memory, bytes);
    }

    public void Dispose()
    {
        _disposed = true;
        Free();
    }

    private void Free()
    {
        NativeMemory.AlignedFree(_memory);
        _memory = null;
        _allocated = 0;
    }
}
