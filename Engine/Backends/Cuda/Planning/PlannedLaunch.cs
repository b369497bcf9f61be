namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>
/// One kernel launch or cuBLASLt product of a planned step, in launch order, with the decoder layer it works for:
/// the layer whose weights it reads, or for a launch that reads none (attention, a residual add) the layer of the
/// last launch that did; <see cref="OutsideLayers"/> for the embeddings, the final norm, the LM head and the loss.
/// </summary>
public sealed record PlannedLaunch(string Name, int Layer, WorkCost Cost)
{
    public const int OutsideLayers = -1;

    /// <summary>A cuBLASLt product rather than an NVRTC kernel.</summary>
    public bool IsProduct => Name.StartsWith("cublasLt", StringComparison.Ordinal);
}
