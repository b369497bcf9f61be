using MeZO.Engine.Tensors;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends;

/// <summary>Row copies: Embedding, GatherRows, KvAppend. All are exact: a copy (or one float32 add) has no rounding to tolerate.</summary>
public sealed partial class CpuOpsTests
{
    private const int EmbeddingVocab = 17;

    [Test]
    public void EmbeddingCopiesTheRowOfEachId(
        [ValueSource(nameof(WeightTypes))] DType type,
        [ValueSource(nameof(AwkwardLengths))] int width,
        [Values(1, 3, 17)] int count)
    {
        var rng = new Random(width * 100 + count);
        float[] tableValues = Normal(rng, EmbeddingVocab * width);
        var table = Weight("embed_tokens", type, tableValues, EmbeddingVocab, width);
        int[] idValues = Enumerable.Range(0, count).Select(_ => rng.Next(EmbeddingVocab)).ToArray();
        idValues[0] = EmbeddingVocab - 1; // the last row, where an off-by-one would read past the table
        var ids = I32("ids", idValues, count);
        var output = Zeros("hidden", DType.F32, count, width);

        Backend.Embedding(table, ids, output, accumulate: false);

        double[] expected = new double[count * width];
        for (int n = 0; n < count; n++)
            for (int c = 0; c < width; c++)
                expected[n * width + c] = tableValues[idValues[n] * width + c];
        AssertClose(ReadF32(output), expected, _ => 0, "Embedding"); // a widened copy is exact
    }

    [Test]
    public void EmbeddingAccumulateAddsToTheOutput([ValueSource(nameof(WeightTypes))] DType type, [Values(3, 129)] int width)
    {
        const int count = 5;
        var rng = new Random(width);
        float[] tableValues = Normal(rng, EmbeddingVocab * width);
        var table = Weight("embed_positions", type, tableValues, EmbeddingVocab, width);
        int[] idValues = [16, 0, 3, 3, 9];
        float[] start = Normal(rng, count * width);
        var output = F32("hidden", start, count, width);

        Backend.Embedding(table, I32("positions", idValues, count), output, accumulate: true);

        // float32 addition is correctly rounded: the double sum rounded once is exactly what the op must produce.
        double[] expected = new double[count * width];
        for (int n = 0; n < count; n++)
            for (int c = 0; c < width; c++)
                expected[n * width + c] = (float)((double)start[n * width + c] + tableValues[idValues[n] * width + c]);
        AssertClose(ReadF32(output), expected, _ => 0, "Embedding accumulate");
    }

    [TestCase(EmbeddingVocab)]
    [TestCase(-1)]
    public void EmbeddingIdOutsideTheVocabularyFails(int badId)
    {
        var table = Weight("embed_tokens", DType.F32, new float[EmbeddingVocab * 3], EmbeddingVocab, 3);
        var ids = I32("ids", [0, badId], 2);
        var error = Assert.Throws<ArgumentException>(() => Backend.Embedding(table, ids, Zeros("hidden", DType.F32, 2, 3), false))!;
        Assert.That(error.Message, Does.Contain("'embed_tokens'").And.Contain(badId.ToString()));
    }

    [Test]
    public void EmbeddingAndGatherRowsRejectMismatchedShapes()
    {
        var table = Weight("embed_tokens", DType.F32, new float[EmbeddingVocab * 3], EmbeddingVocab, 3);
        var ids = I32("ids", [0, 1], 2);
        AssertNamesTensor(() => Backend.Embedding(table, ids, Zeros("short_hidden", DType.F32, 2, 2), false), "short_hidden");
        AssertNamesTensor(() => Backend.Embedding(table, Zeros("float_ids", DType.F32, 2), Zeros("hidden", DType.F32, 2, 3), false), "float_ids");
        AssertNamesTensor(() => Backend.Embedding(Weight("flat_table", DType.F32, new float[6], 6), ids, Zeros("hidden", DType.F32, 2, 3), false), "flat_table");
        AssertNamesTensor(() => Backend.GatherRows(F32("hidden", new float[6], 2, 3), I32("rows", [0], 1), Zeros("long_selected", DType.F32, 2, 3)), "long_selected");
        AssertNamesTensor(() => Backend.GatherRows(F32("hidden", new float[6], 2, 3), Zeros("float_rows", DType.F32, 1), Zeros("selected", DType.F32, 1, 3)), "float_rows");

        using var other = new MeZO.Engine.Backends.Cpu.CpuBackend();
        using var foreign = other.Allocate(new TensorShape(2), DType.I32, MemoryCategory.Activations, "foreign_ids");
        AssertNamesTensor(() => Backend.Embedding(table, foreign, Zeros("hidden", DType.F32, 2, 3), false), "foreign_ids");
    }

    [Test]
    public void GatherRowsCopiesSelectedRows([ValueSource(nameof(AwkwardLengths))] int width)
    {
        const int rows = 7;
        var rng = new Random(width);
        float[] source = Normal(rng, rows * width);
        int[] picks = [6, 0, 6, 3];
        var output = Zeros("selected", DType.F32, picks.Length, width);

        Backend.GatherRows(F32("hidden", source, rows, width), I32("rows", picks, picks.Length), output);

        double[] expected = new double[picks.Length * width];
        for (int s = 0; s < picks.Length; s++)
            for (int c = 0; c < width; c++)
                expected[s * width + c] = source[picks[s] * width + c];
        AssertClose(ReadF32(output), expected, _ => 0, "GatherRows");
    }

    [Test]
    public void GatherRowsSelectsRowsOfNoColumns()
    {
        // hidden (3, 0) still has rows 0..2; only a row outside them is an error.
        var x = Zeros("hidden", DType.F32, 3, 0);
        var output = Zeros("selected", DType.F32, 2, 0);
        Assert.DoesNotThrow(() => Backend.GatherRows(x, I32("rows", [2, 0], 2), output));
        AssertNamesTensor(() => Backend.GatherRows(x, I32("rows", [3], 1), Zeros("one_selected", DType.F32, 1, 0)), "hidden");
    }

    [TestCase(7)]
    [TestCase(-1)]
    public void GatherRowsRowOutsideTheInputFails(int badRow)
    {
        var x = F32("hidden", new float[7 * 3], 7, 3);
        AssertNamesTensor(() => Backend.GatherRows(x, I32("rows", [badRow], 1), Zeros("selected", DType.F32, 1, 3)), "hidden");
    }

    [TestCase(1, 1, 1, 1, 0, 1)]      // the smallest cache
    [TestCase(2, 3, 2, 5, 4, 8)]      // appended after 4 cached positions, one free slot left
    [TestCase(3, 17, 1, 3, 0, 17)]    // a full prefill
    [TestCase(1, 1, 4, 16, 128, 129)] // one decode step into the last slot
    public void KvAppendWritesAtThePastLengthAndLeavesTheRest(int batch, int length, int kvHeads, int headDim, int past, int capacity)
    {
        var rng = new Random(length * 31 + past);
        int row = kvHeads * headDim;
        float[] keys = Normal(rng, batch * length * row), values = Normal(rng, batch * length * row);
        float[] keyStart = Normal(rng, batch * capacity * row), valueStart = Normal(rng, batch * capacity * row);
        var keyCache = F32("k_cache", keyStart, batch, capacity, kvHeads, headDim);
        var valueCache = F32("v_cache", valueStart, batch, capacity, kvHeads, headDim);

        Backend.KvAppend(F32("k", keys, batch, length, kvHeads, headDim), F32("v", values, batch, length, kvHeads, headDim),
            keyCache, valueCache, past);

        foreach (var (cache, fresh, before, what) in new[] { (keyCache, keys, keyStart, "keys"), (valueCache, values, valueStart, "values") })
        {
            double[] expected = new double[before.Length];
            for (int b = 0; b < batch; b++)
                for (int p = 0; p < capacity; p++)
                    for (int e = 0; e < row; e++)
                    {
                        bool appended = p >= past && p < past + length;
                        expected[(b * capacity + p) * row + e] = appended
                            ? fresh[(b * length + p - past) * row + e]
                            : before[(b * capacity + p) * row + e];
                    }
            AssertClose(ReadF32(cache), expected, _ => 0, $"KvAppend {what}");
        }
    }
}
