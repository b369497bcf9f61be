using System.IO.MemoryMappedFiles;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// One .safetensors file, memory-mapped read-only. <see cref="Open"/> validates the whole header (see
/// <see cref="SafetensorsHeader"/>) before the file is mapped, so every entry handed out describes bytes that exist.
/// Tensor bytes are not copied; they are valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _dataSection;
    private readonly Dictionary<string, SafetensorsEntry> _byName;
    private bool _disposed;

    private SafetensorsFile(string path, SafetensorsHeader.Parsed header, MemoryMappedFile mapping,
        MemoryMappedViewAccessor view, long dataSectionOffset)
    {
        Path = path;
        Metadata = header.Metadata;
        Entries = header.Entries;
        _byName = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _mapping = mapping;
        _view = view;
        byte* start = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _dataSection = start + _view.PointerOffset + dataSectionOffset;
    }

    /// <summary>The file's absolute path.</summary>
    public string Path { get; }

    /// <summary>The header's "__metadata__" (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, in data-offset order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <exception cref="CheckpointFormatException">the file is not a valid safetensors file; the message says why.</exception>
    public static SafetensorsFile Open(string path)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(fullPath, null, $"cannot open the file ({e.Message})", e);
        }
        try
        {
            long fileLength = stream.Length;
            Span<byte> prefix = stackalloc byte[SafetensorsHeader.LengthPrefixBytes];
            if (fileLength >= prefix.Length) stream.ReadExactly(prefix);
            long headerLength = SafetensorsHeader.ReadHeaderLength(fullPath, prefix, fileLength);
            var json = new byte[headerLength];
            stream.ReadExactly(json);
            long dataSectionOffset = SafetensorsHeader.LengthPrefixBytes + headerLength;
            var header = SafetensorsHeader.Parse(fullPath, json, fileLength - dataSectionOffset);

            // Capacity 0 maps the whole file, which is never empty here (the length prefix alone is 8 bytes), so a
            // file whose data section is empty still maps.
            var mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            try
            {
                var view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                return new SafetensorsFile(fullPath, header, mapping, view, dataSectionOffset);
            }
            catch
            {
                mapping.Dispose();
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new CheckpointFormatException(fullPath, null, $"cannot read the file ({e.Message})", e);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public bool TryGetEntry(string name, out SafetensorsEntry entry)
    {
        ThrowIfDisposed();
        return _byName.TryGetValue(name, out entry!);
    }

    /// <summary>
    /// The first byte of the tensor inside the mapping, valid while the file is open. The safetensors format does not
    /// align data, so the address may be unaligned for the element type: copy the bytes, never reinterpret them in place.
    /// </summary>
    public byte* DataPointer(SafetensorsEntry e)
    {
        CheckOwnEntry(e);
        return _dataSection + e.DataStart;
    }

    /// <summary>The tensor's bytes, valid while the file is open.</summary>
    /// <exception cref="InvalidOperationException">the tensor is larger than a span can hold (2 GiB).</exception>
    public ReadOnlySpan<byte> GetBytes(SafetensorsEntry e)
    {
        CheckOwnEntry(e);
        if (e.ByteLength > int.MaxValue)
            throw new InvalidOperationException(
                $"{Path}: tensor '{e.Name}': {e.ByteLength} bytes are more than one span can hold (2 GiB); read it in ranges instead");
        return new ReadOnlySpan<byte>(_dataSection + e.DataStart, (int)e.ByteLength);
    }

    /// <summary>
    /// Bytes [byteOffset, byteOffset + byteCount) of the tensor, valid while the file is open: how a tensor of any size
    /// is read, one span-sized piece at a time.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(SafetensorsEntry e, long byteOffset, int byteCount)
    {
        CheckOwnEntry(e);
        if (byteOffset < 0 || byteCount < 0 || byteOffset > e.ByteLength - byteCount)
            throw new ArgumentOutOfRangeException(nameof(byteOffset),
                $"{Path}: tensor '{e.Name}': bytes [{byteOffset}, {byteOffset + byteCount}) are outside its {e.ByteLength} bytes");
        return new ReadOnlySpan<byte>(_dataSection + e.DataStart + byteOffset, byteCount);
    }

    /// <summary>
    /// Takes bytes [byteOffset, byteOffset + byteCount) of the tensor (and the rest of the pages they lie in) out of the
    /// process's resident memory, once they have been copied elsewhere: loading a model then holds its weights once,
    /// in the backend, instead of twice. The bytes stay readable (see <see cref="MappedPages"/>).
    /// </summary>
    public void ReleasePages(SafetensorsEntry e, long byteOffset, long byteCount)
    {
        CheckOwnEntry(e);
        if (byteOffset < 0 || byteCount < 0 || byteOffset > e.ByteLength - byteCount)
            throw new ArgumentOutOfRangeException(nameof(byteOffset),
                $"{Path}: tensor '{e.Name}': bytes [{byteOffset}, {byteOffset + byteCount}) are outside its {e.ByteLength} bytes");
        MappedPages.Release(_dataSection + e.DataStart + byteOffset, byteCount);
    }

    /// <summary>
    /// <see cref="ReleasePages(SafetensorsEntry, long, long)"/> for the whole data section: what the kernel mapped back
    /// around later reads (it maps a fault's neighbouring cached pages too) leaves as well.
    /// </summary>
    public void ReleasePages()
    {
        ThrowIfDisposed();
        if (Entries.Count > 0) MappedPages.Release(_dataSection, Entries.Max(e => e.DataEnd));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    // An entry of another file (or a made-up one) would address bytes this mapping does not hold.
    private void CheckOwnEntry(SafetensorsEntry e)
    {
        ThrowIfDisposed();
        if (!_byName.TryGetValue(e.Name, out var own) || own.DataStart != e.DataStart || own.DataEnd != e.DataEnd)
            throw new ArgumentException($"{Path}: tensor '{e.Name}' is not an entry of this file", nameof(e));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
