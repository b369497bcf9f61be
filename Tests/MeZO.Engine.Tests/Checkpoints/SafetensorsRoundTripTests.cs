using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Checkpoints;

/// <summary>
/// Writes tensors of every dtype and reads them back. Expected bytes are bit patterns worked out by hand from the
/// IEEE 754 layouts (sign | exponent | mantissa), not produced by the conversions under test.
/// </summary>
public class SafetensorsRoundTripTests
{
    // 3.14159f has bits 0x40490FD0. BF16 keeps the top 16 bits, 0x4049; the dropped 0x0FD0 is below half (0x8000), so it
    // rounds down. F16: 3.14159 = 2 × 1.5707950592, mantissa 0.5707950592 × 1024 = 584.494 → 584 = 0x248, exponent
    // 1 + 15 = 16 → 0x4000 | 0x0248.
    private static readonly float[] Values = [1.0f, -2.5f, 3.14159f];
    private static readonly uint[] F32Bits = [0x3F80_0000, 0xC020_0000, 0x4049_0FD0];
    private static readonly ushort[] Bf16Bits = [0x3F80, 0xC020, 0x4049];
    private static readonly ushort[] F16Bits = [0x3C00, 0xC100, 0x4248];

    [Test]
    public void FloatsAreStoredAsTheirKnownBitPatternsAndReadBack()
    {
        using var folder = new ScratchFolder();
        string path = folder.File("model.safetensors");
        SafetensorsWriter.Write(path,
        [
            TensorToWrite.FromSingles("f32", DType.F32, [3], Values),
            TensorToWrite.FromSingles("f16", DType.F16, [1, 3], Values),
            TensorToWrite.FromSingles("bf16", DType.BF16, [3, 1], Values),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.That(Words32(file, "f32"), Is.EqualTo(F32Bits));
        Assert.That(Words16(file, "f16"), Is.EqualTo(F16Bits));
        Assert.That(Words16(file, "bf16"), Is.EqualTo(Bf16Bits));
        Assert.That(Entry(file, "f16").Shape, Is.EqualTo(new long[] { 1, 3 }));
        Assert.That(Entry(file, "bf16").Shape, Is.EqualTo(new long[] { 3, 1 }));
    }

    [Test]
    public void RoundingTo16BitsIsToNearestWithTiesToEven()
    {
        // BF16 keeps 7 mantissa bits (a step of 2⁻⁷ at 1.0), F16 keeps 10 (2⁻¹⁰). 1 + 2⁻⁸ lies exactly halfway between
        // the BF16 neighbours 0x3F80 and 0x3F81 (to even: 0x3F80); 1 + 3·2⁻⁸ halfway between 0x3F81 and 0x3F82 (0x3F82);
        // 1 + 2⁻⁸ + 2⁻¹⁰ is just above the first midpoint (up: 0x3F81); 1 + 2⁻⁹ is below it (down: 0x3F80).
        // For F16 the midpoints are 1 + 2⁻¹¹ (0x3C00) and 1 + 3·2⁻¹¹ (0x3C02).
        float[] bf16Inputs = [1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 256 + 1f / 1024, 1f + 1f / 512];
        ushort[] bf16Expected = [0x3F80, 0x3F82, 0x3F81, 0x3F80];
        float[] f16Inputs = [1f + 1f / 2048, 1f + 3f / 2048];
        ushort[] f16Expected = [0x3C00, 0x3C02];
        using var folder = new ScratchFolder();
        string path = folder.File("rounding.safetensors");
        SafetensorsWriter.Write(path,
        [
            TensorToWrite.FromSingles("bf16", DType.BF16, [4], bf16Inputs),
            TensorToWrite.FromSingles("f16", DType.F16, [2], f16Inputs),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.That(Words16(file, "bf16"), Is.EqualTo(bf16Expected));
        Assert.That(Words16(file, "f16"), Is.EqualTo(f16Expected));
    }

    [Test]
    public void IntegersScalarsAndEmptyTensorsRoundTrip()
    {
        byte[] i32 = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(i32, -1);
        BinaryPrimitives.WriteInt32LittleEndian(i32.AsSpan(4), int.MaxValue);
        byte[] i64 = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(i64, long.MinValue);
        BinaryPrimitives.WriteInt64LittleEndian(i64.AsSpan(8), 1L << 40);
        using var folder = new ScratchFolder();
        string path = folder.File("mixed.safetensors");
        SafetensorsWriter.Write(path,
        [
            TensorToWrite.FromBytes("ids", DType.I32, [2], i32),
            TensorToWrite.FromBytes("positions", DType.I64, [2, 1], i64),
            TensorToWrite.FromSingles("scalar", DType.F32, [], [-2.5f]),
            TensorToWrite.FromSingles("empty", DType.BF16, [3, 0], []),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.That(file.GetBytes(Entry(file, "ids")).ToArray(), Is.EqualTo(i32));
        Assert.That(file.GetBytes(Entry(file, "positions")).ToArray(), Is.EqualTo(i64));
        Assert.That(Entry(file, "positions").Shape, Is.EqualTo(new long[] { 2, 1 }));
        var scalar = Entry(file, "scalar");
        Assert.That(scalar.Shape, Is.Empty);
        Assert.That(scalar.ElementCount, Is.EqualTo(1));
        Assert.That(Words32(file, "scalar"), Is.EqualTo(new uint[] { 0xC020_0000 }));
        var empty = Entry(file, "empty");
        Assert.That(empty.Shape, Is.EqualTo(new long[] { 3, 0 }));
        Assert.That(empty.ElementCount, Is.Zero);
        Assert.That(file.GetBytes(empty).Length, Is.Zero);
    }

    [Test]
    public void HeaderIsPaddedWithSpacesTo8BytesAndDataIsLaidOutAligned()
    {
        using var folder = new ScratchFolder();
        string path = folder.File("aligned.safetensors");
        // Odd element counts of every size: only the largest-first order keeps every tensor aligned to its element size.
        SafetensorsWriter.Write(path,
        [
            TensorToWrite.FromSingles("a", DType.F16, [3], Values),
            TensorToWrite.FromBytes("b", DType.I64, [1], new byte[8]),
            TensorToWrite.FromSingles("c", DType.F32, [1], [1f]),
            TensorToWrite.FromSingles("d", DType.BF16, [1], [1f]),
        ], new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });

        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That(headerLength % 8, Is.Zero);
        string header = RawSafetensors.HeaderText(bytes);
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"));
        Assert.That(header.Length - header.TrimEnd(' ').Length, Is.LessThan(8));
        using var file = SafetensorsFile.Open(path);
        Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" }));
        Assert.That(file.Entries.Select(e => e.Name), Is.EqualTo(new[] { "b", "c", "a", "d" }));
        foreach (var entry in file.Entries)
            Assert.That(entry.DataStart % entry.DType.SizeOf(), Is.Zero, entry.Name);
        // The data section ends where the last tensor ends: nothing is written beyond the tensors.
        Assert.That(bytes.LongLength, Is.EqualTo(8 + (long)headerLength + file.Entries[^1].DataEnd));
    }

    [Test]
    public void AFileWithoutDataOpens()
    {
        using var folder = new ScratchFolder();
        string onlyEmpty = folder.File("only-empty.safetensors");
        SafetensorsWriter.Write(onlyEmpty, [TensorToWrite.FromBytes("none", DType.F32, [0], ReadOnlyMemory<byte>.Empty)]);
        string noTensors = folder.WriteBytes("no-tensors.safetensors", RawSafetensors.Build("{}", []));

        using (var file = SafetensorsFile.Open(onlyEmpty))
            Assert.That(file.GetBytes(Entry(file, "none")).Length, Is.Zero);
        using (var file = SafetensorsFile.Open(noTensors))
        {
            Assert.That(file.Entries, Is.Empty);
            Assert.That(file.Metadata, Is.Empty);
        }
    }

    [Test]
    public unsafe void Pointer_and_writer_sources_write_their_bytes()
    {
        const int count = 5;
        float* native = (float*)NativeMemory.Alloc(count * sizeof(float));
        try
        {
            for (int i = 0; i < count; i++) native[i] = i + 0.5f;
            using var folder = new ScratchFolder();
            string path = folder.File("sources.safetensors");
            SafetensorsWriter.Write(path,
            [
                TensorToWrite.FromPointer("native", DType.F32, [count], (nint)native),
                // Delivered in pieces, as a backend download would: 0x0001, 0x0002, 0x0003 little-endian.
                TensorToWrite.FromWriter("pieces", DType.I32, [3], stream =>
                {
                    stream.Write([1, 0, 0, 0, 2]);
                    stream.WriteByte(0);
                    stream.Write([0, 0, 3, 0, 0, 0]);
                }),
            ]);

            using var file = SafetensorsFile.Open(path);
            Assert.That(file.GetBytes(Entry(file, "pieces")).ToArray(), Is.EqualTo(new byte[] { 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 }));
            // 0.5, 1.5, 2.5, 3.5, 4.5 as float32 bits.
            Assert.That(Words32(file, "native"), Is.EqualTo(new uint[] { 0x3F00_0000, 0x3FC0_0000, 0x4020_0000, 0x4060_0000, 0x4090_0000 }));
        }
        finally
        {
            NativeMemory.Free(native);
        }
    }

    [Test]
    public void CheckpointTensorConvertsEveryFloatDtypeToSingles()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model,
        [
            TensorToWrite.FromSingles("f32", DType.F32, [3], Values),
            TensorToWrite.FromSingles("f16", DType.F16, [3], Values),
            TensorToWrite.FromSingles("bf16", DType.BF16, [3], Values),
            TensorToWrite.FromBytes("ids", DType.I32, [1], new byte[4]),
        ], shardOf: null, extraFiles: []);

        using var reader = CheckpointReader.Open(model);
        // 3.14159 is not representable in 16 bits: the stored values are the bit patterns above decoded by hand,
        // 0x4248 = 2 × (1 + 584/1024) = 3.140625 and 0x4049 = 2 × (1 + 73/128) = 3.140625.
        float[] expected16 = [1.0f, -2.5f, 3.140625f];
        Assert.That(Singles(reader.Get("f32")), Is.EqualTo(Values));
        Assert.That(Singles(reader.Get("f16")), Is.EqualTo(expected16));
        Assert.That(Singles(reader.Get("bf16")), Is.EqualTo(expected16));
        var ids = reader.Get("ids");
        Assert.That(() => ids.CopyToSingles(new float[1]),
            Throws.TypeOf<InvalidOperationException>().With.Message.Contains("tensor 'ids'").And.Message.Contains("I32"));
        Assert.That(() => reader.Get("f32").CopyToSingles(new float[2]), Throws.ArgumentException.With.Message.Contains("3 elements"));
    }

    [Test]
    public void CheckpointTensorReadsAnyRangeOfBytesOrElements()
    {
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        CheckpointWriter.WriteModelFolder(model,
            [TensorToWrite.FromSingles("w", DType.BF16, [3], Values), TensorToWrite.FromSingles("f", DType.F32, [3], Values)], null, []);
        using var reader = CheckpointReader.Open(model);
        var w = reader.Get("w");

        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(w.BytesAt(2, 2)), Is.EqualTo(Bf16Bits[1]));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(w.BytesAt(4, 2)), Is.EqualTo(Bf16Bits[2]), "the last element");
        Assert.That(w.BytesAt(6, 0).Length, Is.Zero, "an empty range at the end");
        Assert.That(() => w.BytesAt(4, 4), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("tensor 'w': bytes [4, 8) are outside its 6 bytes"));
        Assert.That(() => w.BytesAt(-1, 1), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("bytes [-1, 0)"));

        // Elements 1 and 2 only: -2.5 and the BF16 3.140625 (0x4049 = 2 × (1 + 73/128)).
        var tail = new float[2];
        w.CopyToSingles(1, tail);
        Assert.That(tail, Is.EqualTo(new[] { -2.5f, 3.140625f }));
        var f = new float[1];
        reader.Get("f").CopyToSingles(2, f);
        Assert.That(f[0], Is.EqualTo(3.14159f));
        Assert.That(() => w.CopyToSingles(2, new float[2]),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("tensor 'w': elements [2, 4) are outside its 3"));
    }

    [Test]
    public void TensorLargerThanASpanIsReadInRanges()
    {
        // 2³¹ bytes, one more than a span holds. The file is sparse: extending it allocates no disk blocks, and its
        // bytes read as zeros.
        const long bytes = 1L << 31;
        using var folder = new ScratchFolder();
        string model = Path.Combine(folder.Path, "model");
        Directory.CreateDirectory(model);
        string path = Path.Combine(model, "model.safetensors");
        string header = $$$"""{"big":{"dtype":"F32","shape":[{{{bytes / 4}}}],"data_offsets":[0,{{{bytes}}}]}}""";
        File.WriteAllBytes(path, RawSafetensors.Build(header, []));
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
            stream.SetLength(stream.Length + bytes);

        using var reader = CheckpointReader.Open(model);
        var big = reader.Get("big");
        Assert.That(big.ByteLength, Is.EqualTo(bytes));
        var error = Assert.Throws<InvalidOperationException>(() => _ = big.Bytes.Length)!;
        Assert.That(error.Message, Does.StartWith($"{path}: tensor 'big': ").And.Contains("2 GiB"));

        // Ranges past 2 GiB: the last 16 bytes, and the last 4 elements.
        Assert.That(big.BytesAt(bytes - 16, 16).ToArray(), Is.EqualTo(new byte[16]));
        var last = new float[] { 1, 1, 1, 1 };
        big.CopyToSingles(bytes / 4 - 4, last);
        Assert.That(last, Is.EqualTo(new float[4]));
        Assert.That(() => big.BytesAt(bytes - 8, 16), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private static SafetensorsEntry Entry(SafetensorsFile file, string name)
    {
        Assert.That(file.TryGetEntry(name, out var entry), Is.True, name);
        return entry;
    }

    private static uint[] Words32(SafetensorsFile file, string name)
    {
        byte[] bytes = file.GetBytes(Entry(file, name)).ToArray();
        return Enumerable.Range(0, bytes.Length / 4).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * i))).ToArray();
    }

    private static ushort[] Words16(SafetensorsFile file, string name)
    {
        byte[] bytes = file.GetBytes(Entry(file, name)).ToArray();
        return Enumerable.Range(0, bytes.Length / 2).Select(i => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i))).ToArray();
    }

    private static float[] Singles(CheckpointTensor tensor)
    {
        var values = new float[tensor.ElementCount];
        tensor.CopyToSingles(values);
        return values;
    }
}
