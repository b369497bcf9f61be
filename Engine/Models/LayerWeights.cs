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

    /// <summary>The layer's tensors, each once, in a fixed order (<see cref="Map"/> keeps it).</summary>
    public IEnumerable<Tensor> Tensors =>
        new[]
        {
            AttentionNorm, AttentionNormBias, Query, QueryBias, Key, KeyBias, Value, ValueBias, FusedQkv, FusedQkvBias,
            AttentionOutput, AttentionOutputBias, MlpNorm, MlpNormBias, Gate, GateBias, Up, UpBias, Down, DownBias,
        }.OfType<Tensor>();

    /// <summary>The same layer with each tensor replaced by <paramref name="replace"/>'s (a streamed layer's device copies).</summary>
    public LayerWeights Map(Func<Tensor, Tensor> replace)
    {
        Tensor? Optional(Tensor? t) => t is null ? null : replace(t);
        return new LayerWeights
        {
            AttentionNorm = replace(AttentionNorm),
            AttentionNormBias = Optional(AttentionNormBias),
            Query = Optional(Query),
            QueryBias = Optional(QueryBias),
            Key = Optional(Key),
            KeyBias = Optional(KeyBias),
            Value = Optional(Value),
            ValueBias = Optional(ValueBias),
            FusedQkv = Optional(FusedQkv),
            FusedQkvBias = Optional(FusedQkvBias),
            AttentionOutput = replace(AttentionOutput),
            AttentionOutputBias = Optional(AttentionOutputBias),
            MlpNorm = replace(MlpNorm),
            MlpNormBias = Optional(MlpNormBias),
            Gate = Optional(Gate),
            GateBias = Optional(GateBias),
            Up = replace(Up),
            UpBias = Optional(UpBias),
            Down = replace(Down),
            DownBias = Optional(DownBias),
        };
    }
}
