using MeZO.Engine.Adapters;

namespace MeZO.Fuzz;

/// <summary>
/// The input is a PEFT adapter folder's adapter_config.json, read and checked by <see cref="AdapterFolder.Describe"/>
/// (no adapter_model.safetensors beside it: Describe reads only the config).
/// </summary>
public static class AdapterConfigTarget
{
    public static void Read(byte[] input, ScratchFolder scratch)
    {
        scratch.Write(AdapterFolder.ConfigFile, input);
        AdapterDescription description = AdapterFolder.Describe(scratch.Path);
        // What a loader asks of an accepted description: a LoRA config that cannot answer is a reader bug.
        if (description.Lora is { } lora) _ = lora.Scale;
    }
}
