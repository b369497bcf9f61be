using System.Text.RegularExpressions;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// A Hugging Face Hub model id ("facebook/opt-125m") resolved to its snapshot folder in the local cache, as
/// transformers resolves it offline: $HF_HUB_CACHE (else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
/// ~/.cache/huggingface/hub), then models--{org}--{name}/refs/{revision} names the commit whose snapshots/{commit}
/// folder holds the files (links into blobs/). The engine never downloads: a model that is not in the cache is an
/// error that says so and shows the command that would put it there.
/// </summary>
public static partial class HubCache
{
    /// <summary>The cache folder the environment names (transformers' and huggingface_hub's order of precedence).</summary>
    public static string Directory(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (NonEmpty(environment("HF_HUB_CACHE")) is { } hub) return hub;
        if (NonEmpty(environment("HUGGINGFACE_HUB_CACHE")) is { } legacy) return legacy;
        string home = NonEmpty(environment("HF_HOME"))
                      ?? Path.Combine(NonEmpty(environment("XDG_CACHE_HOME"))
                                      ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");
        return Path.Combine(home, "hub");
    }

    /// <summary>
    /// <paramref name="model"/> itself when it is a folder (then <paramref name="revision"/> must be null), else the
    /// cached snapshot of the Hub id at <paramref name="revision"/> (a branch or tag under refs/, or a commit; "main"
    /// when null). A string that is neither an existing folder nor shaped like a Hub id is returned as it is, for the
    /// loader to report as a missing folder.
    /// </summary>
    /// <exception cref="InvalidInputException">an id that is not in the cache, at that revision, or whose snapshot lacks config.json.</exception>
    public static string Resolve(string model, string? revision = null, Func<string, string?>? environment = null)
    {
        if (System.IO.Directory.Exists(model))
        {
            if (revision is not null)
                throw new InvalidInputException($"--revision {revision} applies to a Hugging Face Hub id; {model} is a folder");
            return model;
        }
        if (!HubId().IsMatch(model)) return model;

        string cache = Directory(environment);
        string repository = Path.Combine(cache, "models--" + model.Replace("/", "--"));
        string download = $"huggingface-cli download {model}{(revision is null ? "" : $" --revision {revision}")}";
        if (!System.IO.Directory.Exists(repository))
            throw new InvalidInputException(
                $"{model} is neither a folder nor a model in the Hugging Face cache ({cache}; set HF_HUB_CACHE or HF_HOME to use another). " +
                $"This engine never downloads; put the model in the cache with: {download}");

        string name = revision ?? "main";
        string reference = Path.Combine(repository, "refs", name);
        string commit = File.Exists(reference) ? File.ReadAllText(reference).Trim() : name;
        string snapshot = Path.Combine(repository, "snapshots", commit);
        if (commit.Length == 0 || commit.IndexOfAny(['/', '\\']) >= 0 || !System.IO.Directory.Exists(snapshot))
        {
            string known = string.Join(", ", Known(Path.Combine(repository, "refs")).Concat(Known(Path.Combine(repository, "snapshots"))).Distinct());
            throw new InvalidInputException(
                $"{model} is in the Hugging Face cache ({repository}) but not at revision {name} (the cache has: {(known.Length > 0 ? known : "nothing")}); " +
                $"put that revision there with: {download}");
        }
        if (!File.Exists(Path.Combine(snapshot, "config.json")))
            throw new InvalidInputException($"{snapshot}: the cached snapshot of {model} has no config.json (a partial download?); fetch it again with: {download}");
        return snapshot;
    }

    private static IEnumerable<string> Known(string folder) =>
        System.IO.Directory.Exists(folder)
            ? System.IO.Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>"name" or "org/name" of the characters Hub repository names allow, not a path.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")]
    private static partial Regex HubId();
}
