using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Row copies: embedding lookup, row gather and KV-cache append.</summary>
internal static unsafe class CpuRows
{
    public static void Embedding(Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        int vocab = table.Shape[0], width = table.Shape[1];
        int* idp = (int*)ids.Address;
        float* outp = (float*)output.Address;
        nint tableAddress = table.Address;
        DType tableType = table.DType;
        CheckIds(table, ids);
        CpuParallel.For(ids.ElementCount, 64, (start, end) =>
        {
            float[]? rented = accumulate ? System.Buffers.ArrayPool<float>.Shared.Rent(width) : null;
            for (long n = start; n < end; n++)
            {
                var dst = new Span<float>(outp + n * width, width);
                long rowOffset = (long)idp[n] * width;
                if (rented is null)
                {
                    CpuConvert.Load(tableAddress, tableType, rowOffset, dst);
                }
                else
                {
                    var row = rented.AsSpan(0, width);
                    CpuConvert.Load(tableAddress, tableType, rowOffset, row);
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, row, dst);
                }
            }
            if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
        });
    }

    /// <summary>Every id names a row of the table.</summary>
    public static void CheckIds(Tensor table, Tensor ids)
    {
        int vocab = table.Shape[0];
        int* idp = (int*)ids.Address;
        for (long n = 0; n < ids.ElementCount; n++)
            if ((uint)idp[n] >= (uint)vocab)
                throw new ArgumentException($"Embedding: id {idp[n]} at position {n} is outside '{table.Name}' (vocabulary {vocab})");
    }

    public static void Gather(Tensor x, Tensor rows, Tensor output)
    {
        int width = x.Shape[-1];
        long available = x.Shape.Rows;
        int* rowp = (int*)rows.Address;
        float* src = (float*)x.Address, dst = (float*)output.Address;
        for (long s = 0; s < rows.ElementCount; s++)
        {
            if ((uint)rowp[s] >= (ulong)available)
                throw new ArgumentException($"GatherRows: row {rowp[s]} is outside '{x.Name}' ({available} rows)");
            new ReadOnlySpan<float>(src + (long)rowp[s] * width, width).CopyTo(new Span<float>(dst + s * width, width));
        }
    }

    public static void SliceColumns(Tensor x, int start, Tensor output)
    {
        int width = output.Shape[-1], stride = x.Shape[-1];
        float* src = (float*)x.Address, dst = (float*)output.Address;
        for (long r = 0; r < output.Shape.Rows; r++)
            new ReadOnlySpan<float>(src + r * stride + start, width).CopyTo(new Span<float>(dst + r * width, width));
    }

    public static void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        Append(keys, keyCache, pastLength);
        Append(values, valueCache, pastLength);
    }

    /// <summary>Each sequence's (T, KVH·D) block of <paramref name="source"/> into its cache row block at pastLength.</summary>
    private static void Append(Tensor source, Tensor cache, int pastLength)
    {
        int batch = source.Shape[0], length = source.Shape[1], capacity = cache.Shape[1];
        int rowWidth = source.Shape[2] * source.Shape[3];
        float* s = (float*)source.Address, d = (float*)cache.Address;
        for (int b = 0; b < batch; b++)
            new ReadOnlySpan<float>(s + (long)b * length * rowWidth, length * rowWidth)
                .CopyTo(new Span<float>(d + ((long)b * capacity + pastLength) * rowWidth, length * rowWidth));
    }
}
