using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Reference;

/// <summary>How <see cref="TinyCheckpoints"/> builds a checkpoint; the defaults give a 2-layer model with a 100-token vocabulary.</summary>
public sealed record TinyCheckpointOptions
{
    /// <summary>Storage dtype of every tensor (F32, F16 or BF16); values are rounded to it before anything sees them.</summary>
    public DType DType { get; init; } = DType.F32;

    public int Seed { get; init; } = 1;

    /// <summary>Write two shards and model.safetensors.index.json instead of one model.safetensors.</summary>
    public bool Sharded { get; init; }

    public int Layers { get; init; } = 2;

    public int VocabSize { get; init; } = 100;

    /// <summary>max_position_embeddings (n_positions for GPT-2): sequences must stay shorter for the learned-position models.</summary>
    public int MaxPositions { get; init; } = 64;

    /// <summary>Written as partial_rotary_factor to the config of RoPE models (rotating the first R = D·factor features) when set.</summary>
    public double? PartialRotaryFactor { get; init; }
}
