namespace MeZO.Engine.Adapters;

/// <summary>
/// LoRA's hyper-parameters as PEFT's LoraConfig names them: rank r, lora_alpha and target_modules, either names
/// matched as PEFT matches a list (a module whose path is the name or ends in "." + name) or, as PEFT reads a single
/// string, one regular expression the whole module path must match. The bypass is scaled by α/r.
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The MeZO paper's LoRA: r = 8, α = 16 on the query and value projections.</summary>
    public const int PaperRank = 8;
    public const double PaperAlpha = 16;
    public static readonly IReadOnlyList<string> PaperTargets = ["q_proj", "v_proj"];

    public LoraConfig(int rank, double alpha, IReadOnlyList<string> targetModules, string? targetPattern = null)
    {
        if (rank <= 0) throw new InvalidInputException($"the LoRA rank must be positive (got {rank})");
        if (!double.IsFinite(alpha) || alpha <= 0) throw new InvalidInputException($"lora_alpha must be a positive number (got {alpha})");
        if (targetPattern is null && targetModules.Count == 0) throw new InvalidInputException("LoRA needs at least one target module");
        Rank = rank;
        Alpha = alpha;
        TargetModules = targetModules;
        TargetPattern = targetPattern;
    }

    public int Rank { get; }
    public double Alpha { get; }
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>target_modules given as one regular expression (PEFT's string form); null for a list.</summary>
    public string? TargetPattern { get; }

    /// <summary>α/r in float32, as PEFT multiplies its float32 bypass by the Python float scaling.</summary>
    public float Scale => (float)(Alpha / Rank);
}
