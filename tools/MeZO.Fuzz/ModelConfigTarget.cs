using MeZO.Engine.Models;

namespace MeZO.Fuzz;

/// <summary>The input is a model folder's config.json, read into an <see cref="ArchitectureSpec"/>.</summary>
public static class ModelConfigTarget
{
    public static void Read(byte[] input, ScratchFolder scratch)
    {
        scratch.Write("config.json", input);
        ArchitectureSpec spec = ModelConfigReader.Read(scratch.Path);
        // What every consumer of a spec asks per layer: a window or scale that a valid spec cannot answer is a reader bug.
        for (int layer = 0; layer < Math.Min(spec.NumLayers, 64); layer++)
        {
            _ = spec.AttentionWindow(layer);
            _ = spec.AttentionScale(layer);
        }
    }
}
