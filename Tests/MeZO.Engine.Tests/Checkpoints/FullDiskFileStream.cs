namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>A file stream that accepts a budget of bytes and then fails every write the way a full disk does.</summary>
internal sealed class FullDiskFileStream(string path, long bytesBeforeFull)
    : FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None)
{
    public const string NoSpace = "No space left on device";

    private long _budget = bytesBeforeFull;

    // FileStream's span overload defers to the array overload in derived classes, so the budget lives there.
    public override void Write(byte[] buffer, int offset, int count)
    {
        if (count > _budget) throw new IOException(NoSpace);
        _budget -= count;
        base.Write(buffer, offset, count);
    }

    public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

    public override void WriteByte(byte value) => Write([value], 0, 1);
}
