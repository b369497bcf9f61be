using MeZO.Engine.Tensors;

namespace MeZO.Verification;

public static partial class BackendParity
{
    /// <summary>Row copies are exact: the same bits must arrive (16-bit tables widen exactly).</summary>
    private static IEnumerable<ParityCase> RowCases()
    {
        foreach (var c in EmbeddingCases(DType.F32)) yield return c;

        yield return new ParityCase("Embedding", "an id outside the table is an error", (reference, candidate) =>
        {
            using var table = TensorPair.Floats(reference, candidate, new float[12], DType.F32, "table", 4, 3);
            using var ids = TensorPair.Ints(reference, candidate, [1, 4], "ids", 2);
            using var output = TensorPair.Floats(reference, candidate, new float[6], DType.F32, "output", 2, 3);
            return BothThrow<ArgumentException>("Embedding", "id 4 of a 4-row table", reference, candidate,
                b => b.Embedding(table.On(b), ids.On(b), output.On(b), false));
        });

        foreach (var (start, width) in new[] { (0, 17), (3, 5), (16, 1) })
            yield return new ParityCase("SliceColumns", $"(5, 17)[:, {start}:{start + width}]", (reference, candidate) =>
            {
                var random = new ParityRandom(start * 7 + width);
                using var x = TensorPair.Floats(reference, candidate, random.Normal(5 * 17), DType.F32, "x", 5, 17);
                using var output = TensorPair.Floats(reference, candidate, new float[5 * width], DType.F32, "output", 5, width);
                foreach (var b in new[] { reference, candidate }) b.SliceColumns(x.On(b), start, output.On(b));
                return Exact("SliceColumns", $"(5, 17)[:, {start}:{start + width}]", HostValues.Read(output.Reference), HostValues.Read(output.Candidate));
            });

        yield return new ParityCase("GatherRows", "(7, 13) rows 6, 0, 0, 3", (reference, candidate) =>
        {
            var random = new ParityRandom(713);
            using var x = TensorPair.Floats(reference, candidate, random.Normal(7 * 13), DType.F32, "x", 7, 13);
            using var rows = TensorPair.Ints(reference, candidate, [6, 0, 0, 3], "rows", 4);
            using var output = TensorPair.Floats(reference, candidate, new float[4 * 13], DType.F32, "output", 4, 13);
            foreach (var b in new[] { reference, candidate }) b.GatherRows(x.On(b), rows.On(b), output.On(b));
            return Exact("GatherRows", "(7, 13) rows 6, 0, 0, 3", HostValues.Read(output.Reference), HostValues.Read(output.Candidate));
        });

        yield return new ParityCase("GatherRows", "a row outside the input is an error", (reference, candidate) =>
        {
            using var x = TensorPair.Floats(reference, candidate, new float[7 * 3], DType.F32, "x", 7, 3);
            using var rows = TensorPair.Ints(reference, candidate, [2, 7], "rows", 2);
            using var output = TensorPair.Floats(reference, candidate, new float[6], DType.F32, "output", 2, 3);
            return BothThrow<ArgumentException>("GatherRows", "row 7 of 7", reference, candidate,
                b => b.GatherRows(x.On(b), rows.On(b), output.On(b)));
        });

        foreach (int past in new[] { 0, 5 })
            yield return new ParityCase("KvAppend", $"(2, 3, 2, 5) into capacity 8 at {past}", (reference, candidate) =>
            {
                var random = new ParityRandom(31 + past);
                using var keys = TensorPair.Floats(reference, candidate, random.Normal(2 * 3 * 2 * 5), DType.F32, "keys", 2, 3, 2, 5);
                using var values = TensorPair.Floats(reference, candidate, random.Normal(2 * 3 * 2 * 5), DType.F32, "values", 2, 3, 2, 5);
                // Caches start full of other values: nothing outside [past, past + 3) may change.
                using var keyCache = TensorPair.Floats(reference, candidate, random.Normal(2 * 8 * 2 * 5), DType.F32, "key cache", 2, 8, 2, 5);
                using var valueCache = TensorPair.Floats(reference, candidate, random.Normal(2 * 8 * 2 * 5), DType.F32, "value cache", 2, 8, 2, 5);
                foreach (var b in new[] { reference, candidate })
                    b.KvAppend(keys.On(b), values.On(b), keyCache.On(b), valueCache.On(b), past);
                var k = Exact("KvAppend", $"keys at {past}", HostValues.Read(keyCache.Reference), HostValues.Read(keyCache.Candidate));
                return !k.Passed ? k : Exact("KvAppend", $"(2, 3, 2, 5) into capacity 8 at {past}",
                    HostValues.Read(valueCache.Reference), HostValues.Read(valueCache.Candidate));
            });
    }

    /// <summary>
    /// The embedding into an output of <paramref name="outputType"/>, from tables of every dtype: a copy into float32, and
    /// into 16 bits the widened (or widened and summed) value rounded once. Exact either way.
    /// </summary>
    private static IEnumerable<ParityCase> EmbeddingCases(DType outputType)
    {
        foreach (var tableType in FloatTypes)
            foreach (var (vocab, width, rows) in new[] { (17, 1, 7), (17, 3, 5), (50, 129, 9) })
                foreach (bool accumulate in new[] { false, true })
                {
                    string name = $"{OutputPrefix(outputType)}{tableType} table ({vocab}, {width}), {rows} ids{(accumulate ? ", +=" : "")}";
                    yield return new ParityCase("Embedding", name, (reference, candidate) =>
                    {
                        var random = new ParityRandom(vocab * 131 + width + (int)outputType);
                        using var table = TensorPair.Floats(reference, candidate, random.Normal((long)vocab * width), tableType, "table", vocab, width);
                        using var ids = TensorPair.Ints(reference, candidate, random.Ints(rows, 0, vocab), "ids", rows);
                        using var output = TensorPair.Floats(reference, candidate, random.Normal((long)rows * width), outputType, "output", rows, width);
                        foreach (var b in new[] { reference, candidate }) b.Embedding(table.On(b), ids.On(b), output.On(b), accumulate);
                        return Exact("Embedding", name, HostValues.Read(output.Reference), HostValues.Read(output.Candidate));
                    });
                }
    }

    /// <summary>"BF16 output, " before a case's name where the output is 16-bit; nothing for float32.</summary>
    private static string OutputPrefix(DType outputType) => outputType == DType.F32 ? "" : $"{outputType} output, ";
}
