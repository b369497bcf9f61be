using System.Runtime.InteropServices;
using MeZO.Engine.Backends.Cpu.Backward;
using MeZO.Engine.Backends.Cpu.Optimizer;
using MeZO.Engine.Mezo;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>
/// The reference backend: float32 compute over weights of any float dtype, SIMD and all cores; 16-bit activations are
/// widened and rounded at the op boundaries (<see cref="CpuActivationStaging"/>). Every other backend
/// is tested against it. Each op validates its arguments through <see cref="OpContracts"/> (the backward ops through
/// <see cref="BackwardContracts"/>), then runs in the per-op classes beside this file and in Backward/.
/// </summary>
public sealed class CpuBackend : IBackend, IBackwardOps, IOptimizerOps
{
    private bool _disposed;
    private readonly Func<long, MemoryReport, MemoryCategory, BackendMemory> _allocate;

    public CpuBackend() : this(static (bytes, report, category) => new CpuMemory(bytes, report, category))
    {
    }

    /// <param name="allocate">
    /// host memory of another kind, host-accessible, aligned as <see cref="CpuMemory"/> and zero-filled: CUDA's
    /// page-locked memory for a streamed model's layers, which the GPU copies from asynchronously
    /// </param>
    internal CpuBackend(Func<long, MemoryReport, MemoryCategory, BackendMemory> allocate) => _allocate = allocate;

    public string Name => "cpu";

    public MemoryReport Memory { get; } = new();

    public Tensor Allocate(TensorShape shape, DType dtype, MemoryCategory category, string name)
    {
        ThrowIfDisposed();
        var memory = _allocate(shape.ElementCount * dtype.SizeOf(), Memory, category);
        return new Tensor(this, memory, shape, dtype, name, category);
    }

    public void Upload<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        ThrowIfDisposed();
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(source);
        OpContracts.Upload(this, destination, bytes.Length);
        bytes.CopyTo(Bytes(destination, 0, bytes.Length));
    }

    public void Download<T>(Tensor source, Span<T> destination) where T : unmanaged
    {
        ThrowIfDisposed();
        Span<byte> bytes = MemoryMarshal.AsBytes(destination);
        OpContracts.Download(this, source, bytes.Length);
        Bytes(source, 0, bytes.Length).CopyTo(bytes);
    }

    public void Upload(Tensor destination, long byteOffset, ReadOnlySpan<byte> source)
    {
        ThrowIfDisposed();
        OpContracts.UploadRange(this, destination, byteOffset, source.Length);
        source.CopyTo(Bytes(destination, byteOffset, source.Length));
    }

    public void Download(Tensor source, long byteOffset, Span<byte> destination)
    {
        ThrowIfDisposed();
        OpContracts.DownloadRange(this, source, byteOffset, destination.Length);
        Bytes(source, byteOffset, destination.Length).CopyTo(destination);
    }

    public void Synchronize()
    {
    }

    public void Embedding(Tensor table, Tensor ids, Tensor output, bool accumulate)
    {
        ThrowIfDisposed();
        OpContracts.Embedding(this, table, ids, output);
        using var staged = new CpuActivationStaging();
        CpuRows.Embedding(table, ids, accumulate ? staged.ReadWrite(output) : staged.Write(output), accumulate);
        staged.Complete();
    }

    public void LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.LayerNorm(this, x, weight, bias, output);
        using var staged = new CpuActivationStaging();
        CpuNorms.LayerNorm(staged.Read(x), weight, bias, eps, staged.Write(output));
        staged.Complete();
    }

    public void RmsNorm(Tensor x, Tensor weight, float eps, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.RmsNorm(this, x, weight, output);
        using var staged = new CpuActivationStaging();
        CpuNorms.RmsNorm(staged.Read(x), weight, eps, staged.Write(output));
        staged.Complete();
    }

    /// <remarks>The CPU gains nothing from fusing an epilogue (the output is in cache), so it runs the reference, unfused.</remarks>
    public void Linear(Tensor x, Tensor weight, bool weightTransposed, Tensor? bias, Tensor output, LinearEpilogue epilogue = default)
    {
        ThrowIfDisposed();
        OpContracts.Linear(this, x, weight, weightTransposed, bias, output, epilogue);
        using (var staged = new CpuActivationStaging())
        {
            CpuMatMul.Linear(staged.Read(x), weight, weightTransposed, bias, staged.Write(output));
            staged.Complete();
        }
        epilogue.RunUnfused(this, output);
    }

    public void Rope(Tensor x, Tensor positions, Tensor invFrequencies)
    {
        ThrowIfDisposed();
        OpContracts.Rope(this, x, positions, invFrequencies);
        using var staged = new CpuActivationStaging();
        CpuRope.Apply(staged.ReadWrite(x), positions, invFrequencies);
        staged.Complete();
    }

    public void KvAppend(Tensor keys, Tensor values, Tensor keyCache, Tensor valueCache, int pastLength)
    {
        ThrowIfDisposed();
        OpContracts.KvAppend(this, keys, values, keyCache, valueCache, pastLength);
        CpuRows.KvAppend(keys, values, keyCache, valueCache, pastLength);
    }

    public void Attention(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.Attention(this, q, keyCache, valueCache, keyMask, pastLength, output);
        using var staged = new CpuActivationStaging();
        CpuAttention.Causal(staged.Read(q), staged.Read(keyCache), staged.Read(valueCache), keyMask, pastLength, scale, window,
            staged.Write(output));
        staged.Complete();
    }

    public void Activation(ActivationKind kind, Tensor x)
    {
        ThrowIfDisposed();
        OpContracts.Activation(this, x);
        using var staged = new CpuActivationStaging();
        CpuElementwise.Activation(kind, staged.ReadWrite(x));
        staged.Complete();
    }

    public void SiluMul(Tensor gate, Tensor up)
    {
        ThrowIfDisposed();
        OpContracts.SiluMul(this, gate, up);
        using var staged = new CpuActivationStaging();
        CpuElementwise.SiluMul(staged.ReadWrite(gate), staged.Read(up));
        staged.Complete();
    }

    public void Add(Tensor x, Tensor y)
    {
        ThrowIfDisposed();
        OpContracts.Add(this, x, y);
        using var staged = new CpuActivationStaging();
        CpuElementwise.Add(staged.ReadWrite(x), staged.Read(y));
        staged.Complete();
    }

    public void AddScaled(Tensor x, Tensor y, float scale)
    {
        ThrowIfDisposed();
        OpContracts.AddScaled(this, x, y, scale);
        using var staged = new CpuActivationStaging();
        CpuElementwise.AddScaled(staged.ReadWrite(x), staged.Read(y), scale);
        staged.Complete();
    }

    public void SliceColumns(Tensor x, int start, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.SliceColumns(this, x, start, output);
        CpuRows.SliceColumns(x, start, output);
    }

    public void GatherRows(Tensor x, Tensor rows, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.GatherRows(this, x, rows, output);
        CpuRows.Gather(x, rows, output);
    }

    public void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.LogSoftmaxGather(this, logits, targets, output);
        using var staged = new CpuActivationStaging();
        CpuLogits.LogSoftmaxGather(staged.Read(logits), targets, output);
    }

    public void LogSoftmaxAccumulate(Tensor logits, Tensor targets, int firstColumn, Tensor state)
    {
        ThrowIfDisposed();
        OpContracts.LogSoftmaxAccumulate(this, logits, targets, firstColumn, state);
        using var staged = new CpuActivationStaging();
        CpuLogits.LogSoftmaxAccumulate(staged.Read(logits), targets, firstColumn, state);
    }

    public void Argmax(Tensor logits, Tensor output)
    {
        ThrowIfDisposed();
        OpContracts.Argmax(this, logits, output);
        using var staged = new CpuActivationStaging();
        CpuLogits.Argmax(staged.Read(logits), output);
    }

    public void PerturbedCopy(Tensor weight, TensorNoise noise, float scale, Tensor destination)
    {
        ThrowIfDisposed();
        OpContracts.PerturbedCopy(this, weight, destination);
        CpuPerturbation.PerturbedCopy(weight, noise, scale, destination);
    }

    public void PerturbedEmbedding(Tensor table, TensorNoise noise, float scale, Tensor ids, Tensor output, bool accumulate)
    {
        ThrowIfDisposed();
        OpContracts.Embedding(this, table, ids, output);
        CpuRows.CheckIds(table, ids);
        using var staged = new CpuActivationStaging();
        CpuPerturbation.PerturbedEmbedding(table, noise, scale, ids, accumulate ? staged.ReadWrite(output) : staged.Write(output),
            accumulate);
        staged.Complete();
    }

    public void PerturbedLinear(Tensor weight, bool weightTransposed, TensorNoise noise, ReadOnlySpan<float> scales,
        ReadOnlySpan<Tensor> inputs, ReadOnlySpan<Tensor?> biases, ReadOnlySpan<Tensor> outputs, ReadOnlySpan<LinearEpilogue> epilogues = default)
    {
        ThrowIfDisposed();
        OpContracts.PerturbedLinear(this, weight, weightTransposed, scales, inputs, biases, outputs, epilogues);
        using (var staged = new CpuActivationStaging())
        {
            var read = new Tensor[inputs.Length];
            var written = new Tensor[outputs.Length];
            for (int s = 0; s < inputs.Length; s++)
            {
                read[s] = staged.Read(inputs[s]);
                written[s] = staged.Write(outputs[s]);
            }
            CpuMatMul.PerturbedLinear(weight, weightTransposed, noise, scales, read, biases, written,
                OpContracts.PerturbedWeightRounding(weight, inputs[0]));
            staged.Complete();
        }
        for (int s = 0; s < epilogues.Length; s++) epilogues[s].RunUnfused(this, outputs[s]);
    }

    public void MezoUpdate(Tensor weight, TensorNoise noise, UpdateFactors factors)
    {
        ThrowIfDisposed();
        OpContracts.MezoUpdate(this, weight);
        CpuPerturbation.MezoUpdate(weight, noise, factors);
    }

    public void Dispose() => _disposed = true;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Zero(Tensor t)
    {
        ThrowIfDisposed();
        ShapeChecks.Owned(this, t, nameof(Zero));
        ShapeChecks.Type(t, DType.F32, nameof(Zero));
        unsafe { System.Runtime.InteropServices.NativeMemory.Clear((void*)t.Address, (nuint)t.ByteCount); }
    }

    public void WidenToMaster(Tensor parameter, Tensor master)
    {
        ThrowIfDisposed();
        OptimizerContracts.Widen(this, parameter, master);
        CpuOptimizer.Widen(parameter, master);
    }

    public double SumOfSquares(Tensor t)
    {
        ThrowIfDisposed();
        OptimizerContracts.Reduction(this, t, nameof(SumOfSquares));
        return CpuOptimizer.SumOfSquares(t);
    }

    public void Scale(Tensor t, float factor)
    {
        ThrowIfDisposed();
        OptimizerContracts.Reduction(this, t, nameof(Scale));
        CpuOptimizer.Scale(t, factor);
    }

    public void SgdUpdate(Tensor parameter, Tensor? master, Tensor grad, float learningRate, float weightDecay)
    {
        ThrowIfDisposed();
        OptimizerContracts.Update(this, nameof(SgdUpdate), parameter, master, grad);
        CpuOptimizer.Sgd(parameter, master, grad, learningRate, weightDecay);
    }

    public void AdamWUpdate(Tensor parameter, Tensor? master, Tensor grad, Tensor m, Tensor v, AdamWFactors factors)
    {
        ThrowIfDisposed();
        OptimizerContracts.Update(this, nameof(AdamWUpdate), parameter, master, grad, m, v);
        CpuOptimizer.AdamW(parameter, master, grad, m, v, factors);
    }

    public void EmbeddingBackward(Tensor outputGrad, Tensor ids, Tensor tableGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Embedding(this, outputGrad, ids, tableGrad);
        CpuRowsBackward.Embedding(outputGrad, ids, tableGrad);
    }

    public void LayerNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad, Tensor? biasGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.LayerNorm(this, x, weight, outputGrad, inputGrad, weightGrad, biasGrad);
        CpuNormsBackward.LayerNorm(x, weight, eps, outputGrad, inputGrad, weightGrad, biasGrad);
    }

    public void RmsNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.RmsNorm(this, x, weight, outputGrad, inputGrad, weightGrad);
        CpuNormsBackward.RmsNorm(x, weight, eps, outputGrad, inputGrad, weightGrad);
    }

    public void LinearBackward(Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad, Tensor? weightGrad,
        Tensor? biasGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Linear(this, x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad);
        CpuMatMulBackward.Linear(x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad);
    }

    public void RopeBackward(Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        ThrowIfDisposed();
        BackwardContracts.Rope(this, grad, positions, invFrequencies);
        CpuRope.Backward(grad, positions, invFrequencies);
    }

    public void AttentionBackward(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Attention(this, q, keyCache, valueCache, keyMask, pastLength, output, outputGrad, qGrad, keyGrad, valueGrad);
        CpuAttentionBackward.Run(q, keyCache, valueCache, keyMask, pastLength, scale, window, output, outputGrad, qGrad, keyGrad, valueGrad);
    }

    public void ActivationBackward(ActivationKind kind, Tensor input, Tensor grad)
    {
        ThrowIfDisposed();
        BackwardContracts.Activation(this, input, grad);
        CpuElementwiseBackward.Activation(kind, input, grad);
    }

    public void SiluMulBackward(Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.SiluMul(this, gate, up, outputGrad, gateGrad, upGrad);
        CpuElementwiseBackward.SiluMul(gate, up, outputGrad, gateGrad, upGrad);
    }

    public void LogSoftmaxGatherBackward(Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.LogSoftmaxGather(this, logits, targets, outputGrad, logitsGrad);
        CpuLogitsBackward.LogSoftmaxGather(logits, targets, outputGrad, logitsGrad);
    }

    public void SliceColumnsBackward(Tensor outputGrad, int start, Tensor inputGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.SliceColumns(this, outputGrad, start, inputGrad);
        CpuRowsBackward.SliceColumns(outputGrad, start, inputGrad);
    }

    public void GatherRowsBackward(Tensor outputGrad, Tensor rows, Tensor inputGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.GatherRows(this, outputGrad, rows, inputGrad);
        CpuRowsBackward.GatherRows(outputGrad, rows, inputGrad);
    }

    /// <summary>
    /// Bytes [byteOffset, byteOffset + count) of a tensor this backend owns, a range the caller validated: a window
    /// into the tensor's native memory, so a tensor of any size is read and written in place, without a copy.
    /// </summary>
    private static unsafe Span<byte> Bytes(Tensor t, long byteOffset, int count) => new((byte*)t.Address + byteOffset, count);
}
