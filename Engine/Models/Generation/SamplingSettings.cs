namespace MeZO.Engine.Models.Generation;

/// <summary>
/// How the next token is chosen, as transformers' generate() does with do_sample: the logits divided by
/// <see cref="Temperature"/>, then only the <see cref="TopK"/> most likely tokens kept, then only the smallest set
/// whose probability reaches <see cref="TopP"/>, then one token drawn from what is left. <see cref="Greedy"/> (the
/// default) takes the most likely token.
/// </summary>
/// <param name="Temperature">0 for greedy decoding; otherwise positive</param>
/// <param name="TopK">0 to keep every token</param>
/// <param name="TopP">1 to keep every token; otherwise in (0, 1]</param>
/// <param name="Seed">the draws' seed: the same settings, prompt and seed give the same text</param>
public sealed record SamplingSettings(double Temperature = 0, int TopK = 0, double TopP = 1, ulong Seed = 0)
{
    public static readonly SamplingSettings Greedy = new();

    /// <summary>Greedy decoding: no temperature, or only one token kept.</summary>
    public bool IsGreedy => Temperature == 0 || TopK == 1;

    /// <exception cref="InvalidInputException">a setting is out of its range, named as the command line spells it.</exception>
    public void Validate()
    {
        if (!(Temperature >= 0) || double.IsInfinity(Temperature))
            throw new InvalidInputException($"--temperature {Temperature} must be 0 (greedy) or a positive number");
        if (TopK < 0) throw new InvalidInputException($"--top-k {TopK} must be 0 (every token) or positive");
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidInputException($"--top-p {TopP} must be in (0, 1]");
    }
}
