using System.Runtime.InteropServices;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// The reference backend: float32 compute over weights of any float dtype, SIMD and all cores. Every other backend
/// is tested against it. Ops validate shapes here, then run in the per-op classes beside this file.
/// </summary>
public sealed class CpuBackend : IBackend
{
    private bool _disposed;

    public string Name => "cpu";

    public MemoryReport Memory { get; } = new();

    public Tensor Allocate(TensorShape shape, DType dtype, MemoryCategory category, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var memory = new CpuMemory(shape.ElementCount * dtype.SizeOf(), Memory, category);
        return new Tensor(this, memory, shape, dtype, name, category);
    }

    public void Upload<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        Span<byte> dst = Bytes(destination, "Upload");
        ReadOnlySpan<byte> src = MemoryMarshal.AsBytes(source);
        if (src.Length != dst.Length)
            throw new ArgumentException($"Upload: {src.Length} bytes do not fit '{destination.Name}' ({dst.Length} bytes)");
        src.CopyTo(dst);
    }

    public void Download<T>(Tensor source, Span<T> destination) where T : unmanaged
    {
        ReadOnlySpan<byte> src = Bytes(source, "Download");
        Span<byte> dst = MemoryMarshal.AsBytes(destination);
        if (src.Length != dst.Length)
            throw new ArgumentException($"Download: '{source.Name}' ({src.Length} bytes) does not fit {dst.Length} bytes");
        src.CopyTo(dst);
    }

    public void Synchronize()
    {
    }

    public void Embedding(Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        const string op = nameof(Embedding);
        Own(op, table, ids, output);
        ShapeChecks.Rank(table, 2, op);
        ShapeChecks.Float(table, op);
        ShapeChecks.Type(ids, DType.I32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Elements(output, ids.ElementCount * table.Shape[1], op);
        CpuRows.Embedding(table, ids, output, accumulate);
    }

    public void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        const string op = nameof(LayerNorm);
        Own(op, x, weight, output);
        if (bias is not null) Own(op, bias);
        CheckNorm(op, x, weight, output);
        if (bias is not null)
        {
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, x.Shape[-1], op);
        }
        CpuNorms.LayerNorm(x, weight, bias, eps, output);
    }

    public void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output)
    {
        const string op = nameof(RmsNorm);
        Own(op, x, weight, output);
        CheckNorm(op, x, weight, output);
        CpuNorms.RmsNorm(x, weight, eps, output);
    }

    public void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output)
    {
        const string op = nameof(Linear);
        Own(op, x, weight, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Rank(weight, 2, op);
        ShapeChecks.Float(weight, op);
        int k = x.Shape[-1];
        int n = weightTransposed ? weight.Shape[1] : weight.Shape[0];
        int weightK = weightTransposed ? weight.Shape[0] : weight.Shape[1];
        if (weightK != k)
            throw new ArgumentException($"{op}: '{x.Name}' {x.Shape} has {k} features but weight '{weight.Name}' {weight.Shape} expects {weightK}");
        ShapeChecks.Dim(output, -1, n, op);
        ShapeChecks.Elements(output, x.Shape.Rows * n, op);
        if (bias is not null)
        {
            Own(op, bias);
            ShapeChecks.Float(bias, op);
            ShapeChecks.Elements(bias, n, op);
        }
        CpuMatMul.Linear(x, weight, weightTransposed, bias, output);
    }

    public void Rope(Tensor x, Tensor positions, Tensor invFrequencies)
    {
        const string op = nameof(Rope);
        Own(op, x, positions, invFrequencies);
        ShapeChecks.Rank(x, 4, op);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(positions, DType.I32, op);
        ShapeChecks.Type(invFrequencies, DType.F32, op);
        ShapeChecks.Elements(positions, (long)x.Shape[0] * x.Shape[1], op);
        if (2 * invFrequencies.ElementCount > x.Shape[3])
            throw new ArgumentException(
                $"{op}: '{invFrequencies.Name}' rotates {2 * invFrequencies.ElementCount} features, more than the head width {x.Shape[3]} of '{x.Name}'");
        CpuRope.Apply(x, positions, invFrequencies);
    }

    public void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        const string op = nameof(KvAppend);
        Own(op, keys, values, keyCache, valueCache);
        foreach (var t in new[] { keys, values, keyCache, valueCache })
        {
            ShapeChecks.Rank(t, 4, op);
            ShapeChecks.Type(t, DType.F32, op);
        }
        ShapeChecks.SameShape(keys, values, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        if (keys.Shape[0] != keyCache.Shape[0] || keys.Shape[2] != keyCache.Shape[2] || keys.Shape[3] != keyCache.Shape[3])
            throw new ArgumentException($"{op}: '{keys.Name}' {keys.Shape} does not match the (batch, heads, width) of '{keyCache.Name}' {keyCache.Shape}");
        CheckCapacity(op, keyCache, pastLength, keys.Shape[1]);
        CpuRows.KvAppend(keys, values, keyCache, valueCache, pastLength);
    }

    public void Attention(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, Tensor output)
    {
        const string op = nameof(Attention);
        Own(op, q, keyCache, valueCache, keyMask, output);
        foreach (var t in new[] { q, keyCache, valueCache, output })
        {
            ShapeChecks.Rank(t, 4, op);
            ShapeChecks.Type(t, DType.F32, op);
        }
        ShapeChecks.SameShape(q, output, op);
        ShapeChecks.SameShape(keyCache, valueCache, op);
        ShapeChecks.Type(keyMask, DType.I32, op);
        int batch = q.Shape[0], length = q.Shape[1], heads = q.Shape[2], headDim = q.Shape[3];
        int capacity = keyCache.Shape[1], kvHeads = keyCache.Shape[2];
        ShapeChecks.Dim(keyCache, 0, batch, op);
        ShapeChecks.Dim(keyCache, 3, headDim, op);
        ShapeChecks.Elements(keyMask, (long)batch * capacity, op);
        if (kvHeads == 0 || heads % kvHeads != 0)
            throw new ArgumentException($"{op}: the {heads} heads of '{q.Name}' are not a multiple of the {kvHeads} heads of '{keyCache.Name}'");
        CheckCapacity(op, keyCache, pastLength, length);
        CpuAttention.Causal(q, keyCache, valueCache, keyMask, pastLength, scale, output);
    }

    public void Activation(ActivationKind kind, Tensor x)
    {
        Own(nameof(Activation), x);
        ShapeChecks.Type(x, DType.F32, nameof(Activation));
        CpuElementwise.Activation(kind, x);
    }

    public void SiluMul(Tensor gate, Tensor up)
    {
        const string op = nameof(SiluMul);
        Own(op, gate, up);
        ShapeChecks.Type(gate, DType.F32, op);
        ShapeChecks.Type(up, DType.F32, op);
        ShapeChecks.Elements(up, gate.ElementCount, op);
        CpuElementwise.SiluMul(gate, up);
    }

    public void Add(Tensor x, Tensor y)
    {
        const string op = nameof(Add);
        Own(op, x, y);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(y, DType.F32, op);
        ShapeChecks.Elements(y, x.ElementCount, op);
        CpuElementwise.Add(x, y);
    }

    public void SliceColumns(Tensor x, int start, Tensor output)
    {
        const string op = nameof(SliceColumns);
        Own(op, x, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        int width = output.Shape[-1];
        if (start < 0 || start + width > x.Shape[-1])
            throw new ArgumentException($"{op}: columns [{start}, {start + width}) are outside '{x.Name}' {x.Shape}");
        ShapeChecks.Elements(output, x.Shape.Rows * width, op);
        CpuRows.SliceColumns(x, start, output);
    }

    public void GatherRows(Tensor x, Tensor rows, Tensor output)
    {
        const string op = nameof(GatherRows);
        Own(op, x, rows, output);
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Type(rows, DType.I32, op);
        ShapeChecks.Elements(output, rows.ElementCount * x.Shape[-1], op);
        CpuRows.Gather(x, rows, output);
    }

    public void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output)
    {
        const string op = nameof(LogSoftmaxGather);
        Own(op, logits, targets, output);
        ShapeChecks.Type(logits, DType.F32, op);
        ShapeChecks.Type(targets, DType.I32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Elements(targets, logits.Shape.Rows, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
        CpuLogits.LogSoftmaxGather(logits, targets, output);
    }

    public void Argmax(Tensor logits, Tensor output)
    {
        const string op = nameof(Argmax);
        Own(op, logits, output);
        ShapeChecks.Type(logits, DType.F32, op);
        ShapeChecks.Type(output, DType.I32, op);
        ShapeChecks.Elements(output, logits.Shape.Rows, op);
        CpuLogits.Argmax(logits, output);
    }

    public void Perturb(Tensor weight, ulong seed, ulong firstIndex, float scale)
    {
        Own(nameof(Perturb), weight);
        ShapeChecks.Float(weight, nameof(Perturb));
        CpuPerturbation.Perturb(weight, seed, firstIndex, scale);
    }

    public void PerturbUpdate(Tensor weight, ulong seed, ulong firstIndex, float eps, float learningRate, float weightDecay,
        float projectedGradient)
    {
        Own(nameof(PerturbUpdate), weight);
        ShapeChecks.Float(weight, nameof(PerturbUpdate));
        CpuPerturbation.PerturbUpdate(weight, seed, firstIndex, eps, learningRate, weightDecay, projectedGradient);
    }

    public void Dispose() => _disposed = true;

    private static void CheckNorm(string op, Tensor x, Tensor weight, Tensor output)
    {
        ShapeChecks.Type(x, DType.F32, op);
        ShapeChecks.Type(output, DType.F32, op);
        ShapeChecks.Float(weight, op);
        ShapeChecks.SameShape(x, output, op);
        ShapeChecks.Elements(weight, x.Shape[-1], op);
    }

    private static void CheckCapacity(string op, Tensor cache, int pastLength, int length)
    {
        if (pastLength < 0 || pastLength + length > cache.Shape[1])
            throw new ArgumentException($"{op}: {pastLength} cached + {length} new positions exceed the capacity {cache.Shape[1]} of '{cache.Name}'");
    }

    private void Own(string op, params ReadOnlySpan<Tensor> tensors)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var t in tensors) ShapeChecks.Owned(this, t, op);
    }

    private unsafe Span<byte> Bytes(Tensor t, string op)
    {
        Own(op, t);
        return new Span<byte>((void*)t.Address, checked((int)t.ByteCount));
    }
}
