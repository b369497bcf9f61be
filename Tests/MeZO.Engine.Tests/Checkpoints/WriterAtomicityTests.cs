using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// A failed write leaves everything as it was: no file (or the old file, byte for byte) at the path, and no temporary
/// file or folder anywhere. Failures come from a byte source that throws midway and from a disk that fills up.
/// </summary>
public class WriterAtomicityTests
{
    private static readonly byte[] OldContent = "the previous checkpoint"u8.ToArray();

    [Test]
    public void ByteSourceFailingMidwayLeavesNoFile()
    {
        using var folder = new ScratchFolder();
        string path = folder.File("model.safetensors");
        var error = Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [Good("a"), ThrowsMidway("b")]))!;
        Assert.That(error.Message, Does.StartWith(path + ": ").And.Contains("download failed"));
        Assert.That(error.InnerException, Is.TypeOf<InvalidOperationException>());
        Assert.That(folder.Listing(), Is.Empty);
    }

    [Test]
    public void ByteSourceFailingMidwayLeavesAnExistingFileUnchanged()
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("model.safetensors", OldContent);
        Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [Good("a"), ThrowsMidway("b")]));
        Assert.That(folder.Listing(), Is.EqualTo(new[] { "model.safetensors" }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(OldContent));
    }

    // 10 bytes: the disk fills while the header is written; 200 bytes: after the header (under 200 bytes for these two
    // tensors), inside the 1 KiB of tensor data.
    [TestCase(10)]
    [TestCase(200)]
    public void FullDiskLeavesAnExistingFileUnchanged(long bytesBeforeFull)
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("model.safetensors", OldContent);
        var error = Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [Good("a"), Good("b")], metadata: null,
            temporary => new FullDiskFileStream(temporary, bytesBeforeFull)))!;
        Assert.That(error.Message, Does.StartWith(path + ": ").And.Contains(FullDiskFileStream.NoSpace));
        Assert.That(error.InnerException!.Message, Is.EqualTo(FullDiskFileStream.NoSpace));
        Assert.That(folder.Listing(), Is.EqualTo(new[] { "model.safetensors" }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(OldContent));
    }

    [Test]
    public void FullDiskBudgetThatSufficesWritesTheFile()
    {
        // The control for the full-disk cases: the same stream with room enough writes a file that reads back.
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("model.safetensors", OldContent);
        SafetensorsWriter.Write(path, [Good("a"), Good("b")], metadata: null, temporary => new FullDiskFileStream(temporary, 1 << 20));
        Assert.That(folder.Listing(), Is.EqualTo(new[] { "model.safetensors" }));
        using var file = SafetensorsFile.Open(path);
        Assert.That(file.Entries.Select(e => e.Name), Is.EqualTo(new[] { "a", "b" }));
    }

    [TestCase(4, "wrote 4 bytes")]
    [TestCase(12, "wrote more than the 8 bytes")]
    public void ByteSourceWritingTheWrongLengthFailsTheWrite(int written, string problem)
    {
        using var folder = new ScratchFolder();
        string path = folder.WriteBytes("model.safetensors", OldContent);
        var wrong = TensorToWrite.FromWriter("w", DType.F32, [2], stream => stream.Write(new byte[written]));
        var error = Assert.Throws<IOException>(() => SafetensorsWriter.Write(path, [wrong]))!;
        Assert.That(error.Message, Does.StartWith(path + ": ").And.Contains("tensor 'w'").And.Contains(problem));
        Assert.That(folder.Listing(), Is.EqualTo(new[] { "model.safetensors" }));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(OldContent));
    }

    [Test]
    public void DuplicateTensorNamesAreRefusedBeforeWriting()
    {
        using var folder = new ScratchFolder();
        string path = folder.File("model.safetensors");
        var error = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(path,
            [Good("a"), TensorToWrite.FromSingles("a", DType.BF16, [1], [1f])]))!;
        Assert.That(error.Message, Does.Contain("tensor 'a' is given twice"));
        Assert.That(folder.Listing(), Is.Empty);
    }

    [Test]
    public void ModelFolderByteSourceFailingLeavesTheOldFolderIntact()
    {
        using var folder = new ScratchFolder();
        string model = WriteOldFolder(folder);
        var before = Snapshot(folder);
        var shardOf = new Dictionary<string, string> { ["a"] = "model-00001-of-00002.safetensors", ["b"] = "model-00002-of-00002.safetensors" };

        var error = Assert.Throws<IOException>(() => CheckpointWriter.WriteModelFolder(model, [Good("a"), ThrowsMidway("b")], shardOf,
            [folder.File("config.json")]))!;

        Assert.That(error.Message, Does.StartWith(model + ": ").And.Contains("download failed"));
        Assert.That(Snapshot(folder), Is.EqualTo(before));
    }

    [Test]
    public void ModelFolderOnAFullDiskLeavesTheOldFolderIntact()
    {
        using var folder = new ScratchFolder();
        string model = WriteOldFolder(folder);
        var before = Snapshot(folder);

        var error = Assert.Throws<IOException>(() => CheckpointWriter.WriteModelFolder(model, [Good("a"), Good("b")], shardOf: null, [],
            temporary => new FullDiskFileStream(temporary, 200)))!;

        Assert.That(error.Message, Does.StartWith(model + ": ").And.Contains(FullDiskFileStream.NoSpace));
        Assert.That(Snapshot(folder), Is.EqualTo(before));
    }

    [Test]
    public void ModelFolderFailingWithoutAnOldFolderLeavesNothing()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        Assert.Throws<IOException>(() => CheckpointWriter.WriteModelFolder(model, [ThrowsMidway("a")], shardOf: null, []));
        Assert.That(folder.Listing(), Is.Empty);
    }

    [Test]
    public void ModelFolderArgumentsAreCheckedBeforeWriting()
    {
        using var folder = new ScratchFolder();
        string model = WriteOldFolder(folder);
        var before = Snapshot(folder);

        Assert.That(() => CheckpointWriter.WriteModelFolder(model, [Good("a")], null, [folder.File("absent.json")]),
            Throws.ArgumentException.With.Message.Contains("absent.json").And.Message.Contains("does not exist"));
        Assert.That(() => CheckpointWriter.WriteModelFolder(model, [Good("a"), Good("b")], new Dictionary<string, string> { ["a"] = "a.safetensors" }, []),
            Throws.ArgumentException.With.Message.Contains("tensor 'b' has no shard"));
        Assert.That(() => CheckpointWriter.WriteModelFolder(model, [Good("a")], new Dictionary<string, string> { ["a"] = "../a.safetensors" }, []),
            Throws.ArgumentException.With.Message.Contains("not a .safetensors file name"));
        Assert.That(() => CheckpointWriter.WriteModelFolder(model, [Good("a")], null, [Path.Combine(model, "model.safetensors")]),
            Throws.ArgumentException.With.Message.Contains("would overwrite"));
        Assert.That(Snapshot(folder), Is.EqualTo(before));
    }

    /// <summary>model/ with a weight file and a config, and config.json beside it to copy in.</summary>
    private static string WriteOldFolder(ScratchFolder folder)
    {
        folder.WriteText("config.json", "{}");
        folder.WriteText("model/config.json", """{"old": true}""");
        folder.WriteBytes("model/model.safetensors", OldContent);
        return Path.Combine(folder.Path, "model");
    }

    /// <summary>Every file under the scratch folder with its content.</summary>
    private static Dictionary<string, byte[]> Snapshot(ScratchFolder folder) =>
        folder.Listing().ToDictionary(p => p, p => File.Exists(folder.File(p)) ? File.ReadAllBytes(folder.File(p)) : []);

    /// <summary>256 F32 values (1 KiB).</summary>
    private static TensorToWrite Good(string name) => TensorToWrite.FromSingles(name, DType.F32, [16, 16], new float[256]);

    private static TensorToWrite ThrowsMidway(string name) => TensorToWrite.FromWriter(name, DType.F32, [16, 16], stream =>
    {
        stream.Write(new byte[512]);
        throw new InvalidOperationException("download failed");
    });
}
