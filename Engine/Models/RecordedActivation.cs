namespace MeZO.Engine.Models;

/// <summary>
/// One named intermediate of a forward pass as an <see cref="ActivationRecorder"/> copied it to the host: (Rows, Width)
/// float32, row-major, rows the pass's flat N = B·T rows (the logits: the rows asked for).
/// </summary>
public sealed record RecordedActivation(string Name, int Layer, int Rows, int Width, float[] Values)
{
    /// <summary>The name with its layer, as a state dict would spell it: <c>layers.0.attn_norm</c>, or <c>embed</c> outside the layers.</summary>
    public string Key => Layer < 0 ? Name : $"layers.{Layer}.{Name}";

    /// <summary>Row <paramref name="row"/>'s values.</summary>
    public ReadOnlySpan<float> Row(int row) => Values.AsSpan(row * Width, Width);
}
