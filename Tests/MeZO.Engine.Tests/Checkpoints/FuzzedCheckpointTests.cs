using MeZO.Engine.Checkpoints;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// Checkpoint files on which afl-fuzz (tools/fuzz.sh, targets safetensors and shard-index) crashed the reader,
/// minimised: each is now a one-line <see cref="CheckpointFormatException"/> naming the file.
/// </summary>
public sealed class FuzzedCheckpointTests
{
    [Test]
    public void IndexWithInvalidUtf8InATensorNameIsRejected()
    {
        // A lone continuation byte as a weight_map key: JsonDocument accepted it, and reading the name threw
        // InvalidOperationException.
        using var folder = new ScratchFolder();
        string index = folder.WriteBytes(ShardIndex.FileName,
            [.. "{\"weight_map\": {\""u8, 0xBC, .. "\": \"model-00001-of-00001.safetensors\"}}"u8]);

        var error = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(folder.Path))!;
        Assert.That(error.Message, Is.EqualTo($"{index}: the index is not valid UTF-8"));
    }

    [Test]
    public void IndexWithALoneSurrogateEscapeIsRejected()
    {
        using var folder = new ScratchFolder();
        string index = folder.WriteText(ShardIndex.FileName, """{"weight_map": {"a\ud800": "model-00001-of-00001.safetensors"}}""");

        var error = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(folder.Path))!;
        Assert.That(error.Message, Does.StartWith($"{index}: in the index, a key of $.weight_map is not text"));
    }

    [Test]
    public void HeaderWithALoneSurrogateEscapeIsRejected()
    {
        // JsonDocument kept the escape; reading the tensor name threw InvalidOperationException.
        using var folder = new ScratchFolder();
        byte[] header = """{"w\ud800": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"""u8.ToArray();
        string file = folder.WriteBytes(CheckpointReader.SingleFileName,
            [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);

        var error = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(folder.Path))!;
        Assert.That(error.Message, Does.StartWith($"{file}: in the header, a key of $ is not text"));
    }
}
