using MeZO.Engine.Backends.Cuda.Runtime;

namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// cuBLASLt as a plan sees it: every call supported (on a GPU the engine's shapes and 256-byte-aligned buffers all find
/// an algorithm), each product recorded with its <see cref="KernelCosts.Product"/> cost, nothing computed.
/// </summary>
internal sealed class PlanMatrixProducts(List<RecordedWork> recorded) : IMatrixProducts
{
    public string Description => "cuBLASLt (planned, not loaded)";

    public bool Supports(in MatmulCall call) => true;

    public void Linear(in MatmulCall call) =>
        recorded.Add(new RecordedWork("cublasLt matmul", KernelCosts.Product(call), [call.X, call.W, call.Bias, call.Output]));

    public void Dispose()
    {
    }
}
