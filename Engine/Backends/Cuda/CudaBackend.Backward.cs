using MeZO.Engine.Backends.Cuda.Ops;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// The backward ops on the GPU: each validates its arguments through <see cref="BackwardContracts"/>, as the CPU
/// backend does, then launches in the Cuda*Backward classes of Cuda/Ops, whose kernels each have the CPU backward op
/// as their twin. Like the forward ops they are asynchronous; a bad index found in device data (an id, a row, a
/// target) is raised at the next synchronisation as the ArgumentException the CPU would have thrown, with nothing
/// written.
/// </summary>
public sealed partial class CudaBackend : IBackwardOps
{
    private CudaScratch? _gradientScratch;

    /// <summary>
    /// The backward ops' own workspace (row statistics, column-sum partials, a weight gradient's transposed operand and
    /// product): created on the first backward op, so a backend that only runs forward passes never holds it.
    /// </summary>
    internal CudaScratch GradientScratch => _gradientScratch ??= new CudaScratch(_runtime, Memory);

    public void Zero(Tensor t)
    {
        ThrowIfDisposed();
        ShapeChecks.Owned(this, t, nameof(Zero));
        ShapeChecks.Type(t, DType.F32, nameof(Zero));
        _runtime.Zero(t.Address, t.ByteCount); // +0.0f is all zero bytes
    }

    public void EmbeddingBackward(Tensor outputGrad, Tensor ids, Tensor tableGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Embedding(this, outputGrad, ids, tableGrad);
        CudaRowsBackward.Embedding(this, outputGrad, ids, tableGrad);
    }

    public void LayerNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad, Tensor? biasGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.LayerNorm(this, x, weight, outputGrad, inputGrad, weightGrad, biasGrad);
        CudaNormsBackward.LayerNorm(this, x, weight, eps, outputGrad, inputGrad, weightGrad, biasGrad);
    }

    public void RmsNormBackward(Tensor x, Tensor weight, float eps, Tensor outputGrad, Tensor inputGrad, Tensor weightGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.RmsNorm(this, x, weight, outputGrad, inputGrad, weightGrad);
        CudaNormsBackward.RmsNorm(this, x, weight, eps, outputGrad, inputGrad, weightGrad);
    }

    public void LinearBackward(Tensor x, Tensor weight, bool weightTransposed, Tensor outputGrad, Tensor? inputGrad, Tensor? weightGrad,
        Tensor? biasGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Linear(this, x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad);
        CudaLinearBackward.Run(this, x, weight, weightTransposed, outputGrad, inputGrad, weightGrad, biasGrad);
    }

    public void RopeBackward(Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        ThrowIfDisposed();
        BackwardContracts.Rope(this, grad, positions, invFrequencies);
        CudaRopeBackward.Run(this, grad, positions, invFrequencies);
    }

    public void AttentionBackward(Tensor q, Tensor keyCache, Tensor valueCache, Tensor keyMask, int pastLength, float scale, int window,
        Tensor output, Tensor outputGrad, Tensor qGrad, Tensor keyGrad, Tensor valueGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.Attention(this, q, keyCache, valueCache, keyMask, pastLength, output, outputGrad, qGrad, keyGrad, valueGrad);
        CudaAttentionBackward.Run(this, q, keyCache, valueCache, keyMask, pastLength, scale, window, output, outputGrad, qGrad, keyGrad,
            valueGrad);
    }

    public void ActivationBackward(ActivationKind kind, Tensor input, Tensor grad)
    {
        ThrowIfDisposed();
        BackwardContracts.Activation(this, input, grad);
        CudaElementwiseBackward.Activation(this, kind, input, grad);
    }

    public void SiluMulBackward(Tensor gate, Tensor up, Tensor outputGrad, Tensor gateGrad, Tensor upGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.SiluMul(this, gate, up, outputGrad, gateGrad, upGrad);
        CudaElementwiseBackward.SiluMul(this, gate, up, outputGrad, gateGrad, upGrad);
    }

    public void LogSoftmaxGatherBackward(Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.LogSoftmaxGather(this, logits, targets, outputGrad, logitsGrad);
        CudaLogitsBackward.LogSoftmaxGather(this, logits, targets, outputGrad, logitsGrad);
    }

    public void SliceColumnsBackward(Tensor outputGrad, int start, Tensor inputGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.SliceColumns(this, outputGrad, start, inputGrad);
        CudaRowsBackward.SliceColumns(this, outputGrad, start, inputGrad);
    }

    public void GatherRowsBackward(Tensor outputGrad, Tensor rows, Tensor inputGrad)
    {
        ThrowIfDisposed();
        BackwardContracts.GatherRows(this, outputGrad, rows, inputGrad);
        CudaRowsBackward.GatherRows(this, outputGrad, rows, inputGrad);
    }
}
