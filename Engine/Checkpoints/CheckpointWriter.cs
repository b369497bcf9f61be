using System.Text.Json;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// Writes a Hugging Face model folder so that a crash or a failure never leaves a half-written model: everything goes
/// into "&lt;dir&gt;.tmp-&lt;random&gt;" beside it, which then replaces the folder by renames.
/// </summary>
public static class CheckpointWriter
{
    /// <summary>What transformers' save_pretrained puts in every weight file; its loader rejects metadata without "format".</summary>
    private static readonly IReadOnlyDictionary<string, string> TransformersMetadata = new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="directory"/>: one model.safetensors when
    /// <paramref name="shardOf"/> is null, otherwise the files it names (tensor → file name) plus
    /// model.safetensors.index.json. Each weight file's __metadata__ is <paramref name="metadataOf"/>'s for its name
    /// (the source checkpoint's, kept), with "format": "pt" added when it has no format; {"format": "pt"} for a file it
    /// does not name. <paramref name="extraFiles"/> (config.json, tokenizer.json, ...) are copied in by file name, but
    /// config.json's torch_dtype is set to the dtype the tensors are written in (most of them, if they differ). An
    /// existing folder is replaced only once the new one is complete.
    /// </summary>
    /// <exception cref="ArgumentException">inconsistent arguments; nothing was written.</exception>
    /// <exception cref="InvalidInputException"><paramref name="directory"/> names a file, or config.json is not a JSON
    /// object; nothing was written.</exception>
    /// <exception cref="IOException">writing failed: the old folder (if any) is intact and no temporary folder is left.</exception>
    public static void WriteModelFolder(string directory, IReadOnlyList<TensorToWrite> tensors,
        IReadOnlyDictionary<string, string>? shardOf, IEnumerable<string> extraFiles,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? metadataOf = null) =>
        WriteModelFolder(directory, tensors, shardOf, extraFiles, AtomicFile.CreateNew, metadataOf);

    internal static void WriteModelFolder(string directory, IReadOnlyList<TensorToWrite> tensors,
        IReadOnlyDictionary<string, string>? shardOf, IEnumerable<string> extraFiles, Func<string, FileStream> createFile,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? metadataOf = null)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        if (File.Exists(target))
            throw new InvalidInputException($"{target}: is a file; expected a model folder to write");
        var files = PlanFiles(target, tensors, shardOf);
        var extras = PlanExtraFiles(target, extraFiles, files.Keys);
        var config = extras.Where(e => e.Name == ConfigDType.FileName).Select(e => e.Source).FirstOrDefault();
        string? configText = config is not null && ConfigDType.Dominant(tensors) is { } dtype ? ConfigDType.Rewrite(config, dtype) : null;

        WriteAtomically(target, temporary =>
        {
            foreach (var (file, content) in files)
                SafetensorsWriter.Write(Path.Combine(temporary, file), content, Metadata(metadataOf?.GetValueOrDefault(file)), createFile);
            if (shardOf is not null)
                WriteIndex(Path.Combine(temporary, ShardIndex.FileName), files, createFile);
            foreach (var (file, source) in extras)
            {
                if (file == ConfigDType.FileName && configText is not null)
                    AtomicFile.WriteAllText(Path.Combine(temporary, file), configText);
                else
                    File.Copy(source, Path.Combine(temporary, file));
            }
        });
    }

    private static IReadOnlyDictionary<string, string> Metadata(IReadOnlyDictionary<string, string>? source) =>
        source is null ? TransformersMetadata
        : source.ContainsKey("format") ? source
        : new Dictionary<string, string>(source) { ["format"] = TransformersMetadata["format"] };

    /// <summary>
    /// Writes a folder of one safetensors file, <paramref name="weightFile"/>, holding <paramref name="tensors"/>, and
    /// text files (file name → content) beside it, as atomically as <see cref="WriteModelFolder(string, IReadOnlyList{TensorToWrite}, IReadOnlyDictionary{string, string}?, IEnumerable{string})"/>:
    /// how a PEFT adapter folder (adapter_model.safetensors, adapter_config.json) is saved. <paramref name="extraFiles"/>
    /// are copied in by file name.
    /// </summary>
    public static void WriteFolder(string directory, string weightFile, IReadOnlyList<TensorToWrite> tensors,
        IReadOnlyDictionary<string, string> textFiles, IEnumerable<string> extraFiles)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        if (File.Exists(target))
            throw new InvalidInputException($"{target}: is a file; expected a folder to write");
        if (!ShardIndex.IsPlainFileName(weightFile) || textFiles.Keys.Any(f => !ShardIndex.IsPlainFileName(f) || f == weightFile))
            throw new ArgumentException($"{target}: the file names must be plain and distinct", nameof(textFiles));
        PlanFiles(target, tensors, null);
        var extras = PlanExtraFiles(target, extraFiles, textFiles.Keys.Append(weightFile));
        WriteAtomically(target, temporary =>
        {
            SafetensorsWriter.Write(Path.Combine(temporary, weightFile), tensors, TransformersMetadata, AtomicFile.CreateNew);
            foreach (var (file, content) in textFiles) AtomicFile.WriteAllText(Path.Combine(temporary, file), content);
            foreach (var (file, source) in extras) File.Copy(source, Path.Combine(temporary, file));
        });
    }

    /// <summary>Fills a new temporary folder beside <paramref name="target"/>, then swaps it in; on failure the target is unchanged.</summary>
    private static void WriteAtomically(string target, Action<string> fill)
    {
        string parent = Path.GetDirectoryName(target)!;
        string name = Path.GetFileName(target);
        string random = Guid.NewGuid().ToString("N");
        string temporary = Path.Combine(parent, $"{name}.tmp-{random}");
        try
        {
            System.IO.Directory.CreateDirectory(temporary);
            fill(temporary);
        }
        catch (Exception e)
        {
            DeleteQuietly(temporary);
            throw new IOException($"{target}: writing the model folder failed, the folder is unchanged ({OneLine(e.Message)})", e);
        }
        SwapIn(target, temporary, Path.Combine(parent, $"{name}.old-{random}"));
    }

    /// <summary>File name → the tensors it holds, in file-name order.</summary>
    private static SortedDictionary<string, List<TensorToWrite>> PlanFiles(string target, IReadOnlyList<TensorToWrite> tensors,
        IReadOnlyDictionary<string, string>? shardOf)
    {
        var files = new SortedDictionary<string, List<TensorToWrite>>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (!names.Add(tensor.Name))
                throw new ArgumentException($"{target}: tensor '{tensor.Name}' is given twice", nameof(tensors));
            string file = CheckpointReader.SingleFileName;
            if (shardOf is not null)
            {
                if (!shardOf.TryGetValue(tensor.Name, out string? shard))
                    throw new ArgumentException($"{target}: tensor '{tensor.Name}' has no shard in the shard layout", nameof(shardOf));
                if (!ShardIndex.IsPlainFileName(shard) || !shard.EndsWith(".safetensors", StringComparison.Ordinal))
                    throw new ArgumentException($"{target}: tensor '{tensor.Name}': shard '{shard}' is not a .safetensors file name", nameof(shardOf));
                file = shard;
            }
            if (!files.TryGetValue(file, out var list)) files.Add(file, list = []);
            list.Add(tensor);
        }
        if (files.Count == 0) files.Add(CheckpointReader.SingleFileName, []);
        return files;
    }

    /// <summary>File name → source path; a name must not clash with a weight file, the index or another extra file.</summary>
    private static List<(string Name, string Source)> PlanExtraFiles(string target, IEnumerable<string> extraFiles,
        IEnumerable<string> weightFiles)
    {
        var taken = new HashSet<string>(weightFiles, StringComparer.Ordinal) { ShardIndex.FileName };
        var extras = new List<(string, string)>();
        foreach (string path in extraFiles)
        {
            string source = Path.GetFullPath(path);
            string name = Path.GetFileName(source);
            if (!File.Exists(source))
                throw new ArgumentException($"{target}: extra file '{source}' does not exist", nameof(extraFiles));
            if (!taken.Add(name))
                throw new ArgumentException($"{target}: extra file '{source}' would overwrite the folder's '{name}'", nameof(extraFiles));
            extras.Add((name, source));
        }
        return extras;
    }

    /// <summary>The Hugging Face index: total_size is the sum of the tensors' bytes, weight_map in name order.</summary>
    private static void WriteIndex(string path, SortedDictionary<string, List<TensorToWrite>> files, Func<string, FileStream> createFile)
    {
        AtomicFile.Write(path, stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", files.Values.SelectMany(f => f).Sum(t => t.ByteLength));
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (tensor, file) in files.SelectMany(f => f.Value.Select(t => (t.Name, f.Key)))
                         .OrderBy(p => p.Name, StringComparer.Ordinal))
                json.WriteString(tensor, file);
            json.WriteEndObject();
            json.WriteEndObject();
        }, createFile);
    }

    // The complete new folder replaces the old one by renames: old → aside, new → target, then the old one is deleted.
    // If the second rename fails, the old folder is moved back.
    private static void SwapIn(string target, string temporary, string aside)
    {
        bool hadOld = System.IO.Directory.Exists(target);
        try
        {
            if (hadOld) System.IO.Directory.Move(target, aside);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteQuietly(temporary);
            throw new IOException($"{target}: cannot move the existing folder aside, the folder is unchanged ({OneLine(e.Message)})", e);
        }
        try
        {
            System.IO.Directory.Move(temporary, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (hadOld) System.IO.Directory.Move(aside, target);
            DeleteQuietly(temporary);
            throw new IOException($"{target}: cannot rename the new folder into place, the folder is unchanged ({OneLine(e.Message)})", e);
        }
        if (!hadOld) return;
        try
        {
            System.IO.Directory.Delete(aside, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{target}: the new folder is in place, but the old one could not be deleted from '{aside}' ({OneLine(e.Message)})", e);
        }
    }

    // Called while another exception propagates, which is the one to report.
    private static void DeleteQuietly(string folder)
    {
        try
        {
            if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
