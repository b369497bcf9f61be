namespace MeZO.Engine.Models;

/// <summary>
/// The tensors of one decoder block. Shapes (nn.Linear layout unless the architecture stores Conv1D):
/// norms (C); Query (H·D, C), Key/Value (KVH·D, C) or FusedQkv (C, 3C); AttentionOutput (C, H·D);
/// Dense MLP: Up (F, C), Down (C, F); Gated MLP: Gate, Up (F, C), Down (C, F).
/// </summary>
public sealed class LayerWeights
{
    public required Tensor AttentionNorm { get; init; }
    public Tensor? AttentionNormBias { get; init; }
    public Tensor? Query { get; init; }
    public Tensor? QueryBias { get; init; }
    public Tensor? Key { get; init; }
    public Tensor? KeyBias { get; init; }
    public Tensor? Value { get; init; }
    public Tensor? ValueBias { get; init; }
    public Tensor? FusedQkv { get; init; }
    public Tensor? FusedQkvBias { get; init; }
    public required Tensor AttentionOutput { get; init; }
    public Tensor? AttentionOutputBias { get; init; }
    public required Tensor MlpNorm { get; init; }
    public Tensor? MlpNormBias { get; init; }
    public Tensor? Gate { get; init; }
    public Tensor? GateBias { get; init; }
    public required Tensor Up { get; init; }
    public Tensor? UpBias { get; init; }
    public required Tensor Down { get; init; }
    public Tensor? DownBias { get; init; }
}
