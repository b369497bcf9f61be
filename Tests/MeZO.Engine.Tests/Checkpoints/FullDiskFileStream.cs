namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>A file stream that accepts a budget of bytes and then fails every write the way a full disk does.</summary>
internal sealed class FullDiskFileStream(string path, long bytesBeforeFull)
    : FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None)
{
    public const string NoSpace = "No space left on device";

    private long _budget = bytesBeforeFull;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length > _budget) throw new IOException(NoSpace);
        _budget -= buffer.Length;
        base.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);
}
