using System.Buffers.Binary;
using System.Text;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// Builds safetensors bytes by hand (length prefix, header text, data), independently of the writer, so tests can
/// make files the writer would never produce.
/// </summary>
internal static class RawSafetensors
{
    public static byte[] Build(string header, byte[] data) => Build(Encoding.UTF8.GetBytes(header), data);

    public static byte[] Build(byte[] header, byte[] data) => Build((ulong)header.Length, header, data);

    /// <summary>With a declared header length that may disagree with the header actually present.</summary>
    public static byte[] Build(ulong declaredHeaderLength, byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>The header text of a file, as written (including any padding).</summary>
    public static string HeaderText(byte[] file)
    {
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(file);
        return Encoding.UTF8.GetString(file, 8, checked((int)length));
    }
}
