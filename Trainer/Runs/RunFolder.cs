namespace MeZO.Trainer.Runs;

/// <summary>The files of a run folder (DESIGN §4).</summary>
public sealed class RunFolder(string directory)
{
    public string Directory { get; } = Path.GetFullPath(directory);
    public string Manifest => Path.Combine(Directory, RunManifest.FileName);
    public string Trajectory => Path.Combine(Directory, TrajectoryLog.FileName);
    public string Metrics => Path.Combine(Directory, MetricsLog.FileName);
    /// <summary>Weights after the last periodic checkpoint, with state.json.</summary>
    public string Checkpoint => Path.Combine(Directory, "checkpoint");
    /// <summary>Weights with the best validation metric.</summary>
    public string Best => Path.Combine(Directory, "best");
    /// <summary>Weights after the last step: what `mezo replay` rebuilds.</summary>
    public string Model => Path.Combine(Directory, "model");
    public string LossPlot => Path.Combine(Directory, "loss.png");
    public string EvalPlot => Path.Combine(Directory, "eval.png");

    public bool HoldsRun => File.Exists(Manifest);

    /// <summary>The manifest of the run a resume continues.</summary>
    public RunManifest ManifestToResume() => HoldsRun ? RunManifest.Read(Directory) : throw NoRunToResume();

    public Engine.InvalidInputException NoRunToResume() => new($"{Directory} holds no run to resume (no {RunManifest.FileName})");

    /// <summary>
    /// Deletes what a run killed while saving leaves behind: the temporary and set-aside folders of an atomic model-folder
    /// write ("checkpoint.tmp-…", "best.old-…") and the staging folder of checkpoint state. The trajectory is never
    /// cut back past its last complete step, so nothing in them is needed: a missing checkpoint only means replaying from an earlier one.
    /// </summary>
    public void DeleteInterruptedWrites()
    {
        foreach (string folder in new[] { Checkpoint, Best, Model })
            foreach (string marker in new[] { ".tmp-", ".old-" })
                foreach (string leftover in System.IO.Directory.EnumerateDirectories(Directory, Path.GetFileName(folder) + marker + "*"))
                    System.IO.Directory.Delete(leftover, recursive: true);
        if (System.IO.Directory.Exists(StatePending)) System.IO.Directory.Delete(StatePending, recursive: true);
    }

    /// <summary>Where state.json is staged before it goes into checkpoint/ with the weights.</summary>
    public string StatePending => Path.Combine(Directory, ".state-pending");

    /// <summary>Files of the base model folder that a saved checkpoint carries along (config, tokenizer).</summary>
    public static IEnumerable<string> ModelSideFiles(string baseModelDirectory) =>
        new[] { "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" }
            .Select(f => Path.Combine(baseModelDirectory, f))
            .Where(File.Exists);
}
