namespace MeZO.Engine.Adapters;

/// <summary>
/// One adapted projection: its transformers module path (model.layers.0.self_attn.q_proj), the frozen base weight it
/// bypasses, and the trainable A (r, in) and B (out, r) as PEFT stores them whatever the base's layout (GPT-2's Conv1D
/// included), so the bypass is (α/r)·(x·Aᵀ)·Bᵀ.
/// </summary>
public sealed record LoraModule(string Path, int Layer, Tensor Base, bool BaseTransposed, int InFeatures, int OutFeatures, Tensor A, Tensor B)
{
    /// <summary>PEFT's key of A in adapter_model.safetensors (the adapter name "default" is not part of it).</summary>
    public string NameA => PeftNames.LoraA(Path);

    public string NameB => PeftNames.LoraB(Path);
}
