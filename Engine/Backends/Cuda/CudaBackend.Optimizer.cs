using MeZO.Engine.Backends.Cuda.Ops;

namespace MeZO.Engine.Backends.Cuda;

/// <summary>
/// Backprop's optimizer ops on the GPU, validated through <see cref="OptimizerContracts"/> as on the CPU; the updates
/// round as the CPU's do (optimizer.cu has no fused multiply-add), so given the same gradient a step is bit-identical.
/// </summary>
public sealed partial class CudaBackend : IOptimizerOps
{
    public void WidenToMaster(Tensor parameter, Tensor master)
    {
        ThrowIfDisposed();
        OptimizerContracts.Widen(this, parameter, master);
        CudaOptimizer.Widen(this, parameter, master);
    }

    public double SumOfSquares(Tensor t)
    {
        ThrowIfDisposed();
        OptimizerContracts.Reduction(this, t, nameof(SumOfSquares));
        double sum = CudaOptimizer.SumOfSquares(this, t);
        ThrowIfFaulted();
        return sum;
    }

    public void Scale(Tensor t, float factor)
    {
        ThrowIfDisposed();
        OptimizerContracts.Reduction(this, t, nameof(Scale));
        CudaOptimizer.Scale(this, t, factor);
    }

    public void SgdUpdate(Tensor parameter, Tensor? master, Tensor grad, float learningRate, float weightDecay)
    {
        ThrowIfDisposed();
        OptimizerContracts.Update(this, nameof(SgdUpdate), parameter, master, grad);
        CudaOptimizer.Sgd(this, parameter, master, grad, learningRate, weightDecay);
    }

    public void AdamWUpdate(Tensor parameter, Tensor? master, Tensor grad, Tensor m, Tensor v, AdamWFactors factors)
    {
        ThrowIfDisposed();
        OptimizerContracts.Update(this, nameof(AdamWUpdate), parameter, master, grad, m, v);
        CudaOptimizer.AdamW(this, parameter, master, grad, m, v, factors);
    }
}
