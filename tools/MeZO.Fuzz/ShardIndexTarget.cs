using System.Buffers.Binary;
using System.Text;
using MeZO.Engine.Checkpoints;

namespace MeZO.Fuzz;

/// <summary>
/// The input is model.safetensors.index.json, in a folder that holds two valid shards (tensor "a" in the first, "b" in
/// the second), so the checks of the index against the shards run as well as the index parser. The seed corpus's
/// index matches them.
/// </summary>
public static class ShardIndexTarget
{
    public const string FirstShard = "model-00001-of-00002.safetensors";
    public const string SecondShard = "model-00002-of-00002.safetensors";

    private static readonly byte[] First = Shard("a");
    private static readonly byte[] Second = Shard("b");

    public static void Read(byte[] input, ScratchFolder scratch)
    {
        scratch.Write(FirstShard, First);
        scratch.Write(SecondShard, Second);
        scratch.Write("model.safetensors.index.json", input);
        using var reader = CheckpointReader.Open(scratch.Path);
        foreach (string name in reader.TensorNames) _ = reader.Get(name).Bytes.Length;
    }

    /// <summary>A safetensors file holding one F32 tensor of shape (2): length prefix, JSON header, 8 data bytes.</summary>
    private static byte[] Shard(string tensor)
    {
        byte[] header = Encoding.UTF8.GetBytes($$$"""{"{{{tensor}}}":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""");
        var bytes = new byte[8 + header.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }
}
