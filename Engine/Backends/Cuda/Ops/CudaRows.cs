using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>
/// Row copies on the GPU: embedding lookup, row gather, column slices and the KV-cache append. Gather, KvAppend and a
/// same-dtype slice copy elements of the activations' size as they are; the embedding and a slice between dtypes round
/// what they write once, to nearest even.
/// </summary>
internal static class CudaRows
{
    public static void Embedding(CudaBackend backend, Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        long rows = ids.ElementCount;
        if (rows == 0) return;
        int width = table.Shape[1];
        backend.Launch(KernelCatalog.Embedding, "mezo_embedding", LaunchShape.PerRow(rows, width),
            Pointer(table.Address), I32((int)table.DType), Pointer(ids.Address), Pointer(output.Address), I32((int)output.DType),
            I32(width), I32(table.Shape[0]), I32(accumulate ? 1 : 0), Pointer(backend.FaultAddress));
    }

    public static void Gather(CudaBackend backend, Tensor x, Tensor rows, Tensor output)
    {
        long selected = rows.ElementCount;
        if (selected == 0) return;
        int width = x.Shape[-1];
        backend.Launch(KernelCatalog.GatherRows, "mezo_gather_rows", LaunchShape.PerRow(selected, width),
            Pointer(x.Address), Pointer(rows.Address), Pointer(output.Address), ElementBytes(x), I32(width),
            I32(checked((int)x.Shape.Rows)), Pointer(backend.FaultAddress));
    }

    public static void SliceColumns(CudaBackend backend, Tensor x, int start, Tensor output)
    {
        long count = output.ElementCount;
        if (count == 0) return;
        backend.Launch(KernelCatalog.SliceColumns, "mezo_slice_columns", LaunchShape.Striding(count),
            Pointer(x.Address), I32((int)x.DType), Pointer(output.Address), I32((int)output.DType), I32(x.Shape[-1]), I32(start),
            I32(output.Shape[-1]), I64(count));
    }

    public static void KvAppend(CudaBackend backend, Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        long count = keys.ElementCount;
        if (count == 0) return;
        backend.Launch(KernelCatalog.KvAppend, "mezo_kv_append", LaunchShape.Striding(count),
            Pointer(keys.Address), Pointer(values.Address), Pointer(keyCache.Address), Pointer(valueCache.Address), ElementBytes(keys),
            I32(keys.Shape[1]), I32(keyCache.Shape[1]), I32(keys.Shape[2] * keys.Shape[3]), I32(pastLength), I64(count));
    }

    /// <summary>The copy kernels move elements of 4 or 2 bytes (mezo_copy_element): activations are F32, BF16 or F16.</summary>
    private static KernelArgument ElementBytes(Tensor t)
    {
        int size = t.DType.SizeOf();
        if (size is not (4 or 2)) throw new InvalidOperationException($"'{t.Name}' is {t.DType}: the row copies move 4- or 2-byte elements");
        return I32(size);
    }
}
