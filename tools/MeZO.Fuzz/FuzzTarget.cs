namespace MeZO.Fuzz;

/// <summary>
/// One reader under fuzzing. <see cref="Run"/> feeds the input to it and returns normally when the reader accepts the
/// input or rejects it with an <see cref="MeZO.Engine.InvalidInputException"/> (the documented way to refuse a bad file);
/// any other exception escapes, and the fuzzer records the input as a crash. Returns the refusal's message, or null
/// when the reader accepted the input.
/// </summary>
public sealed record FuzzTarget(string Name, string Description, Action<byte[], ScratchFolder> Read)
{
    public string? Run(byte[] input, ScratchFolder scratch)
    {
        scratch.Clear();
        try
        {
            Read(input, scratch);
            return null;
        }
        catch (MeZO.Engine.InvalidInputException refusal)
        {
            return refusal.Message;
        }
    }
}
