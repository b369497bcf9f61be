namespace MeZO.Engine.Checkpoints;

/// <summary>Passes writes through to a stream and fails as soon as more than the declared bytes arrive.</summary>
internal sealed class ExactLengthStream(Stream inner, long expected, string tensorName) : Stream
{
    private long _written;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _written; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_written + buffer.Length > expected)
            throw new InvalidOperationException(
                $"tensor '{tensorName}': its byte source wrote more than the {expected} bytes its shape and dtype take");
        inner.Write(buffer);
        _written += buffer.Length;
    }

    public override void WriteByte(byte value) => Write([value]);

    public void CheckComplete()
    {
        if (_written != expected)
            throw new InvalidOperationException(
                $"tensor '{tensorName}': its byte source wrote {_written} bytes, but its shape and dtype take {expected}");
    }

    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
