using System.Text;
using MeZO.Engine.Models;
using MeZO.Engine.Tests.Checkpoints;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// config.json inputs on which afl-fuzz (tools/fuzz.sh, target config) crashed the reader, minimised: each is now a
/// one-line <see cref="ModelConfigException"/> naming the file.
/// </summary>
public sealed class FuzzedConfigTests
{
    [Test]
    public void InvalidUtf8InAStringIsRejected()
    {
        // A lone continuation byte inside a value: JsonDocument accepted it, and GetString threw InvalidOperationException.
        byte[] config = [.. "{\"model_type\": \""u8, 0x92, .. "istral\"}"u8];
        AssertRejected(config, "not valid UTF-8");
    }

    [Test]
    public void NegativeHiddenSizeOfARotaryModelIsRejected()
    {
        // Sized the rotary frequency array from a negative width: OverflowException. Now every size is checked positive
        // before anything is derived from it.
        AssertRejected(Encoding.UTF8.GetBytes("""
            {"model_type": "llama", "vocab_size": 32, "hidden_size": -64, "num_attention_heads": 4, "num_hidden_layers": 2,
             "intermediate_size": 128, "max_position_embeddings": 64}
            """), "'hidden_size' must be a positive integer, is -64");
    }

    [Test]
    public void IntegerKeyHoldingAListOfStringsIsRejected()
    {
        // A list is read as its first integer (several eos ids); TryGetInt32 on a string element threw InvalidOperationException.
        AssertRejected(Encoding.UTF8.GetBytes("""{"model_type": "llama", "vocab_size": 32, "hidden_size": ["n"]}"""),
            "'hidden_size' must be an integer, is [\"n\"]");
    }

    [Test]
    public void LoneSurrogateEscapeInAKeyIsRejected()
    {
        // Looking up any key of the object unescaped this one and threw InvalidOperationException.
        AssertRejected(Encoding.UTF8.GetBytes("""{"model_type": "qwen2", "sliding_windo\ud800w": 16}"""),
            "a key of $ is not text");
    }

    private static void AssertRejected(byte[] config, string problem)
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("config.json", config);
        var error = Assert.Throws<ModelConfigException>(() => ModelConfigReader.Read(folder.Path))!;
        Assert.That(error.Message, Does.StartWith(path + ": ").And.Contain(problem).And.Not.Contain('\n'));
    }
}
