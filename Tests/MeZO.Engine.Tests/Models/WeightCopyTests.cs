using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Checkpoints;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Chunked weight copies between checkpoint files and a backend (<see cref="WeightCopy"/>, <see cref="StagingBuffer"/>)
/// with chunks far smaller than the tensors: every stored/held dtype pair, an empty tensor, a single element, and
/// chunk sizes that are not multiples of any element size, against rounding computed independently in the test.
/// </summary>
public sealed class WeightCopyTests
{
    /// <summary>
    /// 8 bytes is the smallest chunk (2 F32 or 4 16-bit elements; one element of a converting copy to a 16-bit dtype);
    /// 10 and 30 divide by no element size, so whole-element chunks leave bytes of the buffer unused.
    /// </summary>
    private static readonly int[] ChunkSizes = [8, 10, 30];

    [Test]
    public void ChunksAreRunsOfWholeElementsCoveringTheTensorOnce()
    {
        using var staging = new StagingBuffer(10);
        Assert.That(staging.Chunks(7, 4), Is.EqualTo(new[] { (0L, 2), (2L, 2), (4L, 2), (6L, 1) }), "10 bytes hold two 4-byte elements");
        Assert.That(staging.Chunks(8, 2), Is.EqualTo(new[] { (0L, 5), (5L, 3) }), "the last run is partial");
        Assert.That(staging.Chunks(10, 2), Is.EqualTo(new[] { (0L, 5), (5L, 5) }), "no empty run after an exact fit");
        Assert.That(staging.Chunks(0, 4), Is.Empty, "an empty tensor has no runs");
        Assert.That(staging.LargestChunk(7, 4), Is.EqualTo(8));
        Assert.That(staging.LargestChunk(1, 4), Is.EqualTo(4), "a tensor smaller than a chunk takes only its own bytes");
        Assert.That(staging.LargestChunk(0, 4), Is.Zero);
        Assert.That(() => staging.Chunks(1, 16).ToList(), Throws.TypeOf<ArgumentOutOfRangeException>(), "no element is larger than a chunk");
    }

    [Test]
    public void StagingBufferNeverHandsOutMoreThanAChunk()
    {
        using var staging = new StagingBuffer(16);
        Assert.That(staging.Take(0).Length, Is.Zero);
        Assert.That(staging.Take(4).Length, Is.EqualTo(4));
        Assert.That(staging.Take(16).Length, Is.EqualTo(16));
        Assert.That(() => staging.Take(17), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new StagingBuffer(StagingBuffer.MinChunkBytes - 1), Throws.TypeOf<ArgumentOutOfRangeException>());
        staging.Dispose();
        Assert.That(() => staging.Take(4), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void UploadHoldsEachStoredValueRoundedOnceToTheHeldDtype(
        [Values(DType.F32, DType.F16, DType.BF16)] DType stored,
        [Values(DType.F32, DType.F16, DType.BF16)] DType held,
        [Values(0, 1, 13)] int elements)
    {
        using var folder = new ScratchFolder();
        float[] values = Values(elements);
        using var reader = WriteOne(folder, stored, values);
        var source = reader.Get("w");
        // What the file holds, decoded by the test's own rounding, then rounded to the held dtype: the bytes to expect.
        byte[] expected = StoredTensors.Encode(held, values.Select(v => ReferenceRounding.Round(stored, v)));

        foreach (int chunkBytes in ChunkSizes)
        {
            using var backend = new CpuBackend();
            using var tensor = backend.Allocate(new TensorShape(elements), held, MemoryCategory.Weights, "w");
            using var staging = new StagingBuffer(chunkBytes);
            WeightCopy.Upload(source, tensor, staging);
            var actual = new byte[tensor.ByteCount];
            backend.Download<byte>(tensor, actual);
            Assert.That(actual, Is.EqualTo(expected), $"{elements} elements {stored} → {held} in chunks of {chunkBytes} bytes");
        }
    }

    [Test]
    public void DownloadStreamsExactlyTheTensorBytes([Values(DType.F32, DType.F16, DType.BF16)] DType type,
        [Values(0, 1, 13)] int elements)
    {
        using var backend = new CpuBackend();
        using var tensor = backend.Allocate(new TensorShape(elements), type, MemoryCategory.Weights, "w");
        byte[] expected = StoredTensors.Encode(type, Values(elements));
        backend.Upload<byte>(tensor, expected);

        foreach (int chunkBytes in ChunkSizes)
        {
            using var staging = new StagingBuffer(chunkBytes);
            using var stream = new MemoryStream();
            WeightCopy.Download(tensor, stream, staging);
            Assert.That(stream.ToArray(), Is.EqualTo(expected), $"{elements} {type} elements in chunks of {chunkBytes} bytes");
        }
    }

    [Test]
    public void UploadRefusesATensorOfAnotherSize()
    {
        using var folder = new ScratchFolder();
        using var reader = WriteOne(folder, DType.F32, Values(3));
        using var backend = new CpuBackend();
        using var tensor = backend.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Weights, "w");
        using var staging = new StagingBuffer();
        Assert.That(() => WeightCopy.Upload(reader.Get("w"), tensor, staging),
            Throws.ArgumentException.With.Message.Contains("tensor 'w' has 3 elements, 'w' 4"));
    }

    [TestCase(DType.F32, DType.F16, 70000f)]
    [TestCase(DType.F32, DType.BF16, 3.4e38f)]
    [TestCase(DType.BF16, DType.F16, 1e5f)]
    public void UploadRefusesAFiniteValueBeyondTheHeldDtypesRangeNamingTheTensor(DType stored, DType held, float large)
    {
        using var folder = new ScratchFolder();
        using var reader = WriteOne(folder, stored, [1f, -large, 2f]);
        using var backend = new CpuBackend();
        using var tensor = backend.Allocate(new TensorShape(3), held, MemoryCategory.Weights, "w");
        using var staging = new StagingBuffer();
        Assert.That(() => WeightCopy.Upload(reader.Get("w"), tensor, staging),
            Throws.InstanceOf<InvalidInputException>().With.Message.Contains("tensor 'w' holds").And.Message.Contains("(element 1)")
                .And.Message.Contains($"beyond the largest finite {held} value"));
    }

    /// <summary>
    /// A NaN or ±∞ stored in the file is refused whether the copy is straight or converting, naming the element, also
    /// when it sits past chunk boundaries (chunks of 8 bytes: 2 or 4 elements).
    /// </summary>
    [Test]
    public void UploadRefusesANonFiniteValueThatTheFileHoldsNamingTheElement(
        [Values(DType.F32, DType.F16, DType.BF16)] DType stored, [Values(DType.F32, DType.F16, DType.BF16)] DType held,
        [Values(float.NaN, float.PositiveInfinity, float.NegativeInfinity)] float bad)
    {
        float[] values = Enumerable.Range(0, 11).Select(i => 0.25f * i).ToArray();
        values[9] = bad;
        using var folder = new ScratchFolder();
        using var reader = WriteOne(folder, stored, values);
        using var backend = new CpuBackend();
        using var tensor = backend.Allocate(new TensorShape(values.Length), held, MemoryCategory.Weights, "w");
        using var staging = new StagingBuffer(StagingBuffer.MinChunkBytes);
        string expected = float.IsNaN(bad) ? "NaN" : bad > 0 ? "+∞" : "−∞";
        Assert.That(() => WeightCopy.Upload(reader.Get("w"), tensor, staging),
            Throws.InstanceOf<InvalidInputException>().With.Message.EqualTo(
                $"{reader.WeightFiles[0]}: tensor 'w' holds {expected} at element 9; weights must be finite"));
    }

    /// <summary>
    /// Values that round differently in F16 and BF16, with ties to even in both (1 + 2⁻¹¹ is halfway between two F16
    /// neighbours, 1 + 2⁻⁸ between two BF16 neighbours), a negative zero, and an F16 subnormal.
    /// </summary>
    private static float[] Values(int count)
    {
        float[] special = [1f + 1f / 2048, 1f + 1f / 256, -0f, 3e-6f, -1234.567f];
        return Enumerable.Range(0, count).Select(i => i < special.Length ? special[i] : (i - 6) * 0.3141592f * (1 + i / 2048f)).ToArray();
    }

    private static CheckpointReader WriteOne(ScratchFolder folder, DType stored, float[] values)
    {
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model, [TensorToWrite.FromSingles("w", stored, [values.Length], values)], shardOf: null, []);
        return CheckpointReader.Open(model);
    }
}
