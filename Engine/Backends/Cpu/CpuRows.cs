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

    // Gather, SliceColumns and KvAppend copy elements of one dtype as they are: bytes, never rounded.

    public static void Gather(Tensor x, Tensor rows, Tensor output)
    {
        int rowBytes = x.Shape[-1] * x.DType.SizeOf();
        long available = x.Shape.Rows;
        int* rowp = (int*)rows.Address;
        byte* src = (byte*)x.Address, dst = (byte*)output.Address;
        for (long s = 0; s < rows.ElementCount; s++)
        {
            if ((uint)rowp[s] >= (ulong)available)
                throw new ArgumentException($"GatherRows: row {rowp[s]} is outside '{x.Name}' ({available} rows)");
            new ReadOnlySpan<byte>(src + (long)rowp[s] * rowBytes, rowBytes).CopyTo(new Span<byte>(dst + s * rowBytes, rowBytes));
        }
    }

    public static void SliceColumns(Tensor x, int start, Tensor output)
    {
        if (x.DType != output.DType)
        {
            ConvertColumns(x, start, output);
            return;
        }
        int size = x.DType.SizeOf();
        int widthBytes = output.Shape[-1] * size, strideBytes = x.Shape[-1] * size;
        byte* src = (byte*)x.Address + (long)start * size, dst = (byte*)output.Address;
        for (long r = 0; r < output.Shape.Rows; r++)
            new ReadOnlySpan<byte>(src + r * strideBytes, widthBytes).CopyTo(new Span<byte>(dst + r * widthBytes, widthBytes));
    }

    /// <summary>SliceColumns between dtypes: each value widened exactly, then rounded to nearest even when narrowed.</summary>
    private static void ConvertColumns(Tensor x, int start, Tensor output)
    {
        int width = output.Shape[-1], stride = x.Shape[-1];
        float[] row = System.Buffers.ArrayPool<float>.Shared.Rent(width);
        try
        {
            for (long r = 0; r < output.Shape.Rows; r++)
            {
                CpuConvert.Load(x.Address, x.DType, r * stride + start, row.AsSpan(0, width));
                CpuConvert.Store(row.AsSpan(0, width), output.Address, output.DType, r * width);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(row);
        }
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
        long rowBytes = (long)source.Shape[2] * source.Shape[3] * source.DType.SizeOf();
        byte* s = (byte*)source.Address, d = (byte*)cache.Address;
        for (int b = 0; b < batch; b++)
            Buffer.MemoryCopy(s + b * length * rowBytes, d + (b * capacity + pastLength) * rowBytes, length * rowBytes, length * rowBytes);
    }
}
