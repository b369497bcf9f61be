using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models.Gradients;

/// <summary>
/// The backward of LoRA's bypass y += s·(x·Aᵀ)·Bᵀ (s = α/r) at one adapted projection, beside its frozen base's: with
/// h = x·Aᵀ, dB += s·dyᵀ·h, dh = s·dy·B, dA += dhᵀ·x, dx += dh·A. h is recomputed from the kept input x rather than
/// kept from the forward pass: a rank-r product, cheaper than an (N, r) buffer per adapted projection. Two (N, r)
/// buffers, sized for the largest call, serve every projection in turn.
/// </summary>
internal sealed class LoraBypassBackward : IDisposable
{
    private readonly IBackend _backend;
    private readonly IBackwardOps _ops;
    private readonly float _scale;
    private readonly Tensor _hidden;  // (N, r) x·Aᵀ, then dy·B
    private readonly Tensor _scaled;  // (N, r) s·x·Aᵀ, then dh = s·dy·B

    public LoraBypassBackward(IBackend backend, IBackwardOps ops, LoraAdapter lora, int rows)
    {
        _backend = backend;
        _ops = ops;
        _scale = lora.Config.Scale;
        var shape = new TensorShape(rows, lora.Rank);
        _hidden = backend.Allocate(shape, DType.F32, MemoryCategory.Workspace, "lora_hidden.grad");
        try
        {
            _scaled = backend.Allocate(shape, DType.F32, MemoryCategory.Workspace, "lora_scaled.grad");
        }
        catch
        {
            _hidden.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of the two (N, r) buffers (the allocations of the constructor).</summary>
    public static long BytesFor(long rows, int rank) => 2 * 4 * rows * rank;

    public long Bytes => _hidden.ByteCount + _scaled.ByteCount;

    /// <summary>
    /// inputGrad (N, in) += dx of the bypass, through <paramref name="spare"/> (N, in), whose values it overwrites;
    /// gradA and gradB += (null: frozen).
    /// </summary>
    public void Run(LoraModule m, Tensor x, Tensor outputGrad, Tensor inputGrad, Tensor spare, Tensor? gradA, Tensor? gradB)
    {
        int n = x.Shape[0];
        var hidden = _hidden.View(new TensorShape(n, m.A.Shape[0]));
        var scaled = _scaled.View(hidden.Shape);
        _backend.Linear(x, m.A, false, null, hidden);
        Scaled(hidden, scaled);
        // dB += dyᵀ·(s·h); hidden = dy·B.
        _ops.LinearBackward(scaled, m.B, false, outputGrad, hidden, gradB, null);
        Scaled(hidden, scaled);
        // dA += dhᵀ·x; dx = dh·A, added to the base's.
        _ops.LinearBackward(x, m.A, false, scaled, spare, gradA, null);
        _backend.Add(inputGrad, spare);
    }

    /// <summary>output = s·x, as the forward's AddScaled rounds it (fl(0 + fl(s·x)) = fl(s·x)).</summary>
    private void Scaled(Tensor x, Tensor output)
    {
        _ops.Zero(output);
        _backend.AddScaled(output, x, _scale);
    }

    public void Dispose()
    {
        _hidden.Dispose();
        _scaled.Dispose();
    }
}
