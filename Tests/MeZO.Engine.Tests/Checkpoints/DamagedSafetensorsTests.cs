using System.Text;
using MeZO.Engine.Checkpoints;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// Every kind of damage SafetensorsFile.Open must refuse, each in a file written byte by byte here. The error must be
/// a CheckpointFormatException whose one-line message names the file, the tensor where there is one, and the problem.
/// </summary>
public class DamagedSafetensorsTests
{
    private const string F32Pair = """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

    private static readonly byte[] EightBytes = new byte[8];

    public static IEnumerable<TestCaseData> DamagedHeaders()
    {
        // (header, data, tensor named in the error or null, words the problem must contain)
        yield return Case("not UTF-8", [.. "{\""u8, 0xC3, 0x28, .. "\":{}}"u8], [], null, "UTF-8");
        yield return Case("not JSON", "{\"w\": {\"dtype\": ", [], null, "not valid JSON");
        yield return Case("JSON array", "[1, 2]", [], null, "array, not an object");
        yield return Case("JSON string", "\"w\"", [], null, "string, not an object");
        yield return Case("entry not an object", """{"w": 5}""", [], "w", "number, not an object");
        yield return Case("no dtype", """{"w":{"shape":[2],"data_offsets":[0,8]}}""", EightBytes, "w", "no 'dtype'");
        yield return Case("no shape", """{"w":{"dtype":"F32","data_offsets":[0,8]}}""", EightBytes, "w", "no 'shape'");
        yield return Case("no data_offsets", """{"w":{"dtype":"F32","shape":[2]}}""", EightBytes, "w", "no 'data_offsets'");
        yield return Case("dtype not a string", """{"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}""", EightBytes, "w", "'dtype'");
        yield return Case("unknown dtype", """{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}""", EightBytes, "w", "'F8_E4M3'", "not supported");
        yield return Case("shape not an array", """{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}""", EightBytes, "w", "'shape'", "not an array");
        yield return Case("negative dimension", """{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", EightBytes, "w", "dimension 0 is -2");
        yield return Case("fractional dimension", """{"w":{"dtype":"F32","shape":[1,2.5],"data_offsets":[0,8]}}""", EightBytes, "w", "dimension 1 is 2.5");
        yield return Case("dimension as text", """{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}""", EightBytes, "w", "dimension 0 is \"2\"");
        yield return Case("one offset", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}}""", EightBytes, "w", "data_offsets is [8]");
        yield return Case("three offsets", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}""", EightBytes, "w", "two non-negative integers");
        yield return Case("negative offset", """{"w":{"dtype":"F32","shape":[0],"data_offsets":[-4,-4]}}""", EightBytes, "w", "two non-negative integers");
        yield return Case("fractional offset", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}""", EightBytes, "w", "two non-negative integers");
        yield return Case("offsets not an array", """{"w":{"dtype":"F32","shape":[2],"data_offsets":"0-8"}}""", EightBytes, "w", "data_offsets");
        yield return Case("descending offsets", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", EightBytes, "w", "[8, 0]", "end before");
        yield return Case("range past the data", """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", EightBytes, "w", "past the end", "8-byte data section");
        yield return Case("shape needs more bytes", """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", EightBytes, "w", "needs 12 bytes", "hold 8");
        yield return Case("shape needs fewer bytes", """{"w":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,8]}}""", EightBytes, "w", "needs 4 bytes");
        yield return Case("shape overflows", """{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", EightBytes, "w", "too large");
        yield return Case("overlapping ranges",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            new byte[12], "b", "overlap tensor 'a'");
        yield return Case("range inside another",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
            new byte[16], "b", "overlap tensor 'a'");
        yield return Case("same tensor twice", F32Pair.TrimEnd('}') + """},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8], "w", "twice");
        yield return Case("metadata not an object", """{"__metadata__":"pt"}""", [], null, "'__metadata__'", "object of strings");
        yield return Case("metadata value not a string", """{"__metadata__":{"format":"pt","step":3}}""", [], null, "'step'", "must be strings");
    }

    [TestCaseSource(nameof(DamagedHeaders))]
    public void DamagedHeaderIsRefused(byte[] header, byte[] data, string? tensor, string[] problem)
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("damaged.safetensors", RawSafetensors.Build(header, data));
        AssertRefused(path, tensor, problem);
    }

    [Test]
    public void EmptyFileIsRefused()
    {
        using var folder = new ScratchFolder();
        AssertRefused(folder.WriteBytes("empty.safetensors", []), null, "empty");
    }

    [Test]
    public void FileShorterThanTheLengthPrefixIsRefused()
    {
        using var folder = new ScratchFolder();
        AssertRefused(folder.WriteBytes("short.safetensors", [2, 0, 0, 0, 0]), null, "5 bytes", "too short");
    }

    [Test]
    public void HeaderLengthBeyondTheFileIsRefused()
    {
        using var folder = new ScratchFolder();
        byte[] header = Encoding.UTF8.GetBytes(F32Pair);
        // Declares 8 bytes more than the header and data together: a truncated file.
        string path = folder.WriteBytes("truncated.safetensors", RawSafetensors.Build((ulong)header.Length + 16, header, EightBytes));
        AssertRefused(path, null, $"header length {header.Length + 16} exceeds");
    }

    [TestCase(100_000_001UL)]
    [TestCase(1UL << 40)]
    [TestCase(ulong.MaxValue)]
    public void AbsurdHeaderLengthIsRefusedBeforeAllocating(ulong declared)
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("absurd.safetensors", RawSafetensors.Build(declared, Encoding.UTF8.GetBytes(F32Pair), EightBytes));
        AssertRefused(path, null, $"header length {declared} is absurd");
    }

    [Test]
    public void MissingFileIsRefusedWithItsPath()
    {
        using var folder = new ScratchFolder();
        AssertRefused(folder.File("absent.safetensors"), null, "cannot open");
    }

    [Test]
    public void AValidHandWrittenFileOpens()
    {
        // The control for the cases above: the same construction, undamaged, opens and reads. 1.0f, -2.5f little-endian.
        using var folder = new ScratchFolder();
        byte[] data = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0];
        string path = folder.WriteBytes("valid.safetensors", RawSafetensors.Build(F32Pair + "   ", data));
        using var file = SafetensorsFile.Open(path);
        Assert.That(file.TryGetEntry("w", out var entry), Is.True);
        Assert.That(file.GetBytes(entry).ToArray(), Is.EqualTo(data));
    }

    [Test]
    public void EntryOfAnotherFileIsRefused()
    {
        using var folder = new ScratchFolder();
        string first = folder.WriteBytes("first.safetensors", RawSafetensors.Build(F32Pair, EightBytes));
        string second = folder.WriteBytes("second.safetensors",
            RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", EightBytes));
        using var a = SafetensorsFile.Open(first);
        using var b = SafetensorsFile.Open(second);
        Assert.That(a.TryGetEntry("w", out var fromA), Is.True);
        Assert.That(() => b.GetBytes(fromA), Throws.ArgumentException.With.Message.Contains("not an entry of this file"));
    }

    [Test]
    public void UseAfterDisposeIsRefused()
    {
        using var folder = new ScratchFolder();
        var file = SafetensorsFile.Open(folder.WriteBytes("w.safetensors", RawSafetensors.Build(F32Pair, EightBytes)));
        Assert.That(file.TryGetEntry("w", out var entry), Is.True);
        file.Dispose();
        Assert.That(() => file.GetBytes(entry), Throws.TypeOf<ObjectDisposedException>());
    }

    private static void AssertRefused(string path, string? tensor, params string[] problem)
    {
        var error = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path).Dispose())!;
        Assert.That(error, Is.InstanceOf<InvalidInputException>());
        Assert.That(error.FilePath, Is.EqualTo(path));
        Assert.That(error.TensorName, Is.EqualTo(tensor));
        string prefix = tensor is null ? $"{path}: " : $"{path}: tensor '{tensor}': ";
        Assert.That(error.Message, Does.StartWith(prefix));
        Assert.That(error.Message, Does.Not.Contain("\n").And.Not.Contain("\r"));
        foreach (string words in problem)
            Assert.That(error.Message, Does.Contain(words));
    }

    private static TestCaseData Case(string what, string header, byte[] data, string? tensor, params string[] problem) =>
        Case(what, Encoding.UTF8.GetBytes(header), data, tensor, problem);

    private static TestCaseData Case(string what, byte[] header, byte[] data, string? tensor, params string[] problem) =>
        new TestCaseData(header, data, tensor, problem).SetName($"Damaged header is refused: {what}");
}
