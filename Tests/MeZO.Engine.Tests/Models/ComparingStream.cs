namespace MeZO.Engine.Tests.Models;

/// <summary>
/// A write-only stream that compares what is written with <paramref name="length"/> bytes of memory at
/// <paramref name="actual"/>, in order, and keeps the offset of the first difference.
/// </summary>
internal sealed unsafe class ComparingStream(byte* actual, long length) : Stream
{
    private long _position;

    /// <summary>The first byte offset where the written bytes and the memory differ; null while they agree.</summary>
    public long? FirstDifference { get; private set; }

    /// <summary>All <paramref name="length"/> bytes were written and every one matched.</summary>
    public bool Matched => FirstDifference is null && _position == length;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > length) throw new InvalidOperationException($"more than the {length} bytes to compare were written");
        var memory = new ReadOnlySpan<byte>(actual + _position, buffer.Length);
        int same = memory.CommonPrefixLength(buffer);
        if (FirstDifference is null && same != buffer.Length) FirstDifference = _position + same;
        _position += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
