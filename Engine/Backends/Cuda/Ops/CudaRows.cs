using MeZO.Engine.Backends.Cuda.Runtime;
using static MeZO.Engine.Backends.Cuda.Runtime.KernelArgument;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Row copies on the GPU: embedding lookup, row gather, column slices and the KV-cache append.</summary>
internal static class CudaRows
{
    public static void Embedding(CudaBackend backend, Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        long rows = ids.ElementCount;
        if (rows == 0) return;
        int width = table.Shape[1];
        backend.Launch(KernelCatalog.Embedding, "mezo_embedding", LaunchShape.PerRow(rows, width),
            Pointer(table.Address), I32((int)table.DType), Pointer(ids.Address), Pointer(output.Address), I32(width),
            I32(table.Shape[0]), I32(accumulate ? 1 : 0), Pointer(backend.FaultAddress));
    }

    public static void Gather(CudaBackend backend, Tensor x, Tensor rows, Tensor output)
    {
        long selected = rows.ElementCount;
        if (selected == 0) return;
        int width = x.Shape[-1];
        backend.Launch(KernelCatalog.GatherRows, "mezo_gather_rows", LaunchShape.PerRow(selected, width),
            Pointer(x.Address), Pointer(rows.Address), Pointer(output.Address), I32(width), I32(checked((int)x.Shape.Rows)),
            Pointer(backend.FaultAddress));
    }

    public static void SliceColumns(CudaBackend backend, Tensor x, int start, Tensor output)
    {
        long count = output.ElementCount;
        if (count == 0) return;
        backend.Launch(KernelCatalog.SliceColumns, "mezo_slice_columns", LaunchShape.Striding(count),
            Pointer(x.Address), Pointer(output.Address), I32(x.Shape[-1]), I32(start), I32(output.Shape[-1]), I64(count));
    }

    public static void KvAppend(CudaBackend backend, Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        long count = keys.ElementCount;
        if (count == 0) return;
        backend.Launch(KernelCatalog.KvAppend, "mezo_kv_append", LaunchShape.Striding(count),
            Pointer(keys.Address), Pointer(values.Address), Pointer(keyCache.Address), Pointer(valueCache.Address),
            I32(keys.Shape[1]), I32(keyCache.Shape[1]), I32(keys.Shape[2] * keys.Shape[3]), I32(pastLength), I64(count));
    }
}
