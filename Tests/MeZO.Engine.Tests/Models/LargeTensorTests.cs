using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Checkpoints;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Weights larger than a span (2 GiB) and the memory it takes to move large ones: Load, Save and Restore stream a tensor
/// in bounded chunks instead of copying it whole into a managed array.
/// </summary>
public sealed class LargeTensorTests
{
    /// <summary>
    /// Managed allocations while a model with a 105 MB tensor is loaded (as stored and converted), saved and restored.
    /// The bound, 4 MiB, sits between the two things it separates: a folder's bookkeeping (paths, the JSON header,
    /// dictionaries of names, file streams: about 40 KB measured) and any managed copy proportional to the data — the
    /// whole tensor (105 MB, what Save and a converting Load used to allocate, plus 52 MB for the 16-bit copy) or even one
    /// 64 MiB chunk buffer on the managed heap.
    /// </summary>
    [Test]
    public void MovingA100MBTensorAllocatesNoManagedCopyOfIt()
    {
        const long bound = 4 << 20;
        const int vocab = 409_600; // × 64 F32 = 104,857,600 bytes of embedding
        using var folder = new ScratchFolder();
        string source = Path.Combine(folder.Path, "source");
        PatternCheckpoint.Write(source, vocab, DType.F32);
        string small = Path.Combine(folder.Path, "small");
        PatternCheckpoint.Write(small, 16, DType.F32);
        using var backend = new CpuBackend();

        // Each path once on a small model first: a first call compiles code and fills caches, which is not what is measured.
        using (var warm = Load(small, backend, DType.BF16))
        {
            warm.Save(Path.Combine(folder.Path, "warm"), []);
            warm.Restore(Path.Combine(folder.Path, "warm"));
        }
        Load(small, backend, storage: null).Dispose();

        long converting = Allocated(() => Load(source, backend, DType.BF16).Dispose());
        long loading = Allocated(() => Load(source, backend, storage: null).Dispose());
        using var weights = Load(source, backend, storage: null);
        string saved = Path.Combine(folder.Path, "saved");
        long saving = Allocated(() => weights.Save(saved, []));
        long restoring = Allocated(() => weights.Restore(saved));

        TestContext.Out.WriteLine($"managed bytes: converting load {converting}, load {loading}, save {saving}, restore {restoring}");
        Assert.Multiple(() =>
        {
            Assert.That(converting, Is.LessThan(bound), "load F32 → BF16");
            Assert.That(loading, Is.LessThan(bound), "load");
            Assert.That(saving, Is.LessThan(bound), "save");
            Assert.That(restoring, Is.LessThan(bound), "restore");
        });
        AssertFileHolds(saved, DType.F32, DType.F32);
    }

    [Test]
    [Explicit("needs 6 GB of disk, 9 GB of memory (half of it file mappings) and about two minutes")]
    public void ATensorOver2GiBLoadsSavesRestoresAndConvertsBitForBit()
    {
        const int vocab = (1 << 24) + 1; // × 64 = 2³⁰ + 64 elements: 2 GiB + 128 bytes in BF16, 4 GiB + 256 bytes in F32
        using var folder = new ScratchFolder();
        string source = Path.Combine(folder.Path, "source");
        PatternCheckpoint.Write(source, vocab, DType.BF16);
        string saved = Path.Combine(folder.Path, "saved");
        using var backend = new CpuBackend();

        using (var weights = Load(source, backend, storage: null))
        {
            var embedding = weights.TokenEmbedding;
            Assert.That(embedding.ByteCount, Is.EqualTo((1L << 31) + 128));
            AssertHolds(weights, DType.BF16);

            weights.Save(saved, [Path.Combine(source, "config.json")]);
            AssertFileHolds(saved, DType.BF16, DType.BF16);

            // Spoil the first and the last 64 elements, then resume from the saved folder.
            backend.Upload(embedding, 0, new byte[128]);
            backend.Upload(embedding, embedding.ByteCount - 128, new byte[128]);
            Assert.That(Holds(embedding, DType.BF16).Matched, Is.False, "the spoiled bytes differ from the pattern");
            weights.Restore(saved);
            AssertHolds(weights, DType.BF16);
        }
        Directory.Delete(saved, recursive: true);

        using (var widened = Load(source, backend, DType.F32))
        {
            Assert.That(widened.TokenEmbedding.ByteCount, Is.EqualTo((1L << 32) + 256));
            AssertHolds(widened, DType.BF16);
            widened.Save(saved, []);
            AssertFileHolds(saved, DType.BF16, DType.F32);
        }
    }

    /// <summary>Every parameter holds the pattern of a checkpoint stored as <paramref name="stored"/>, in its own dtype.</summary>
    private static void AssertHolds(ModelWeights weights, DType stored)
    {
        foreach (var p in weights.Parameters)
        {
            var compare = Holds(p.Tensor, stored);
            Assert.That(compare.Matched, Is.True, $"'{p.Name}' differs from the pattern at byte {compare.FirstDifference}");
        }
    }

    private static unsafe ComparingStream Holds(Tensor t, DType stored)
    {
        var compare = new ComparingStream((byte*)t.Address, t.ByteCount); // a CPU tensor: its address is host memory
        PatternCheckpoint.WriteHeld(compare, t.Name, stored, t.DType, t.ElementCount);
        return compare;
    }

    /// <summary>Every tensor of a saved folder is <paramref name="held"/> and holds the pattern of <paramref name="stored"/>.</summary>
    private static unsafe void AssertFileHolds(string folder, DType stored, DType held)
    {
        using var file = SafetensorsFile.Open(Path.Combine(folder, CheckpointReader.SingleFileName));
        foreach (var entry in file.Entries)
        {
            Assert.That(entry.DType, Is.EqualTo(held), entry.Name);
            var compare = new ComparingStream(file.DataPointer(entry), entry.ByteLength);
            PatternCheckpoint.WriteHeld(compare, entry.Name, stored, held, entry.ByteLength / held.SizeOf());
            Assert.That(compare.Matched, Is.True, $"{file.Path}: '{entry.Name}' differs from the pattern at byte {compare.FirstDifference}");
        }
    }

    private static long Allocated(Action action)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        action();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    private static ModelWeights Load(string folder, IBackend backend, DType? storage)
    {
        using var reader = CheckpointReader.Open(folder);
        return ModelWeights.Load(reader, ModelConfigReader.Read(folder), backend, storage);
    }
}
