using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// What the kernel says about the process (/proc/self/smaps and maps): a safetensors mapping's copied pages leave
/// resident memory as loading copies them, and no mapping of the file is left once the model is loaded.
/// </summary>
[TestFixture]
public sealed class MappedPagesTests
{
    [SetUp]
    public void RequireLinux()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("reads /proc/self/smaps, which only Linux has");
    }

    [Test]
    public void ReleasedPagesLeaveResidentMemoryAndStayReadable()
    {
        using var folder = new ScratchFolder();
        float[] values = Enumerable.Range(0, 1 << 20).Select(i => i * 0.5f).ToArray(); // 4 MiB
        CheckpointWriter.WriteModelFolder(folder.Path, [TensorToWrite.FromSingles("w", DType.F32, [values.Length], values)], shardOf: null, []);
        string path = Path.Combine(folder.Path, CheckpointReader.SingleFileName);
        using var file = SafetensorsFile.Open(path);
        var entry = file.Entries.Single();
        long sum = 0;
        foreach (byte b in file.GetBytes(entry)) sum += b; // fault every page in

        long before = ResidentBytes(path);
        file.ReleasePages(entry, 0, entry.ByteLength);
        long after = ResidentBytes(path);

        Assert.That(before, Is.GreaterThanOrEqualTo(4L << 20), "every page was read");
        Assert.That(after, Is.LessThanOrEqualTo(Environment.SystemPageSize), "at most the header's page stays");
        var again = new float[values.Length];
        new CheckpointTensor(file, entry).CopyToSingles(again);
        Assert.That(again, Is.EqualTo(values), "the bytes read back from the file");
    }

    [Test]
    public void LoadingLeavesNoneOfTheFileResidentWhileItIsStillOpen([Values(null, DType.BF16)] DType? storage)
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        string path = Path.Combine(model.Folder, CheckpointReader.SingleFileName);
        using var reader = CheckpointReader.Open(model.Folder);
        using var backend = new CpuBackend();

        using var weights = ModelWeights.Load(reader, ModelConfigReader.Read(model.Folder), backend, storage);

        // 1 MB of weights: at most the page the header shares with the first tensor.
        Assert.That(ResidentBytes(path), Is.LessThanOrEqualTo(Environment.SystemPageSize));
    }

    [Test]
    public void NoMappingOfTheFileIsLeftAfterTransformerLoad()
    {
        using var model = CheckpointEditor.CopyOf(SharedData.Path("models/stories260K"));
        string path = Path.Combine(model.Folder, CheckpointReader.SingleFileName);
        using var backend = new CpuBackend();

        using var transformer = Transformer.Load(model.Folder, backend);

        Assert.That(File.ReadLines("/proc/self/maps").Where(l => l.EndsWith(path, StringComparison.Ordinal)), Is.Empty);
    }

    /// <summary>The resident bytes of every mapping of <paramref name="path"/>, from /proc/self/smaps' Rss lines.</summary>
    private static long ResidentBytes(string path)
    {
        long total = 0;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (IsMappingHeader(line))
                inside = line.EndsWith(path, StringComparison.Ordinal);
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line["Rss:".Length..].Trim().Split(' ')[0]) * 1024;
        }
        return total;
    }

    // "7f12a000-7f12b000 r--s 00000000 fd:01 1234  /path": the first field is an address range.
    private static bool IsMappingHeader(string line)
    {
        int dash = line.IndexOf('-'), space = line.IndexOf(' ');
        return dash > 0 && space > dash && line[..dash].All(char.IsAsciiHexDigit);
    }
}
