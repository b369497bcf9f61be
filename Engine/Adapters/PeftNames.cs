namespace MeZO.Engine.Adapters;

/// <summary>
/// Tensor names in PEFT's adapter_model.safetensors: the wrapped model's module path under "base_model.model.", with
/// the adapter name ("default") removed as PEFT's get_peft_model_state_dict removes it on saving.
/// </summary>
public static class PeftNames
{
    public const string ModelPrefix = "base_model.model.";

    /// <summary>Prefix tuning's one tensor: (virtual tokens, layers·2·KVH·D).</summary>
    public const string PromptEmbeddings = "prompt_embeddings";

    public static string LoraA(string modulePath) => ModelPrefix + modulePath + ".lora_A.weight";
    public static string LoraB(string modulePath) => ModelPrefix + modulePath + ".lora_B.weight";
}
