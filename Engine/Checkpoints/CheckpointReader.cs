namespace MeZO.Engine.Checkpoints;

/// <summary>
/// A Hugging Face model folder's weights: model.safetensors, or the shards that model.safetensors.index.json lists
/// (as transformers does, model.safetensors wins when both exist). Every file is opened and validated, and the index is
/// checked against the shards' headers, in <see cref="Open"/>.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFileName = "model.safetensors";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsEntry Entry)> _tensors;
    private bool _disposed;

    private CheckpointReader(string directory, List<SafetensorsFile> files,
        Dictionary<string, (SafetensorsFile File, SafetensorsEntry Entry)> tensors)
    {
        Directory = directory;
        _files = files;
        _tensors = tensors;
        WeightFiles = files.Select(f => f.Path).ToArray();
        TensorNames = tensors.Keys.Order(StringComparer.Ordinal).ToArray();
        ShardOf = tensors.ToDictionary(t => t.Key, t => System.IO.Path.GetFileName(t.Value.File.Path), StringComparer.Ordinal);
        MetadataOf = files.ToDictionary(f => System.IO.Path.GetFileName(f.Path), f => f.Metadata, StringComparer.Ordinal);
    }

    /// <summary>The model folder's absolute path.</summary>
    public string Directory { get; }

    /// <summary>Absolute paths of the weight files, in file-name order (what a run hashes to identify its base model).</summary>
    public IReadOnlyList<string> WeightFiles { get; }

    /// <summary>Every tensor name, in ordinal order.</summary>
    public IReadOnlyCollection<string> TensorNames { get; }

    /// <summary>Tensor name → the file name that holds it, to write the same layout back.</summary>
    public IReadOnlyDictionary<string, string> ShardOf { get; }

    /// <summary>Weight file name → its header's __metadata__ (empty when it has none), to write back with the weights.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> MetadataOf { get; }

    /// <exception cref="CheckpointFormatException">the folder, its weights or its index are missing or damaged.</exception>
    public static CheckpointReader Open(string modelDirectory)
    {
        string directory = System.IO.Path.GetFullPath(modelDirectory);
        if (!System.IO.Directory.Exists(directory))
            throw new CheckpointFormatException(directory, null,
                File.Exists(directory) ? "is a file; expected a model folder" : "the model folder does not exist");

        string single = System.IO.Path.Combine(directory, SingleFileName);
        string index = System.IO.Path.Combine(directory, ShardIndex.FileName);
        if (File.Exists(single)) return FromFiles(directory, [single], weightMap: null, index);
        if (File.Exists(index)) return FromIndex(directory, index);

        string pickle = System.IO.Path.Combine(directory, "pytorch_model.bin");
        if (File.Exists(pickle) || File.Exists(pickle + ".index.json"))
            throw new CheckpointFormatException(directory, null,
                "holds only pytorch_model.bin, which is not supported (PyTorch pickles can run code); " +
                "convert it to safetensors, e.g. model.save_pretrained(folder) with transformers 4.35 or later (safetensors by default)");
        if (File.Exists(System.IO.Path.Combine(directory, Adapters.AdapterFolder.ConfigFile)))
            throw new CheckpointFormatException(directory, null,
                $"holds a PEFT adapter ({Adapters.AdapterFolder.ConfigFile}), not a model: give its base model as --model and this folder as --adapter");
        throw new CheckpointFormatException(directory, null,
            $"no {SingleFileName} or {ShardIndex.FileName} in the model folder");
    }

    public bool Contains(string name)
    {
        ThrowIfDisposed();
        return _tensors.ContainsKey(name);
    }

    /// <exception cref="CheckpointFormatException">the checkpoint has no tensor of that name.</exception>
    public CheckpointTensor Get(string name)
    {
        ThrowIfDisposed();
        if (!_tensors.TryGetValue(name, out var found))
            throw new CheckpointFormatException(Directory, name, "not in the checkpoint");
        return new CheckpointTensor(found.File, found.Entry);
    }

    /// <summary>Takes every file's mapped pages out of resident memory, once their tensors have been copied; they stay readable.</summary>
    public void ReleasePages()
    {
        ThrowIfDisposed();
        foreach (var file in _files) file.ReleasePages();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var file in _files) file.Dispose();
    }

    private static CheckpointReader FromIndex(string directory, string index)
    {
        var weightMap = ShardIndex.ReadWeightMap(index);
        var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(name => System.IO.Path.Combine(directory, name)).ToArray();
        foreach (string shard in shards)
        {
            if (!File.Exists(shard))
                throw new CheckpointFormatException(index, null,
                    $"shard '{System.IO.Path.GetFileName(shard)}' is listed in 'weight_map' but missing from the folder");
        }
        return FromFiles(directory, shards, weightMap, index);
    }

    // Opens every file, then checks that each tensor lives in exactly one file and, for a sharded checkpoint, in the
    // file the index names. Files opened before a failure are closed again.
    private static CheckpointReader FromFiles(string directory, IReadOnlyList<string> paths,
        IReadOnlyDictionary<string, string>? weightMap, string index)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (string path in paths) files.Add(SafetensorsFile.Open(path));
            var tensors = new Dictionary<string, (SafetensorsFile, SafetensorsEntry)>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                string fileName = System.IO.Path.GetFileName(file.Path);
                foreach (var entry in file.Entries)
                {
                    if (tensors.TryGetValue(entry.Name, out var other))
                        throw new CheckpointFormatException(file.Path, entry.Name,
                            $"also stored in '{System.IO.Path.GetFileName(other.Item1.Path)}'; a tensor must be in one shard");
                    if (weightMap is not null)
                    {
                        if (!weightMap.TryGetValue(entry.Name, out string? listed))
                            throw new CheckpointFormatException(file.Path, entry.Name,
                                $"stored in this shard but missing from {ShardIndex.FileName}'s 'weight_map'");
                        if (listed != fileName)
                            throw new CheckpointFormatException(file.Path, entry.Name,
                                $"stored in this shard but {ShardIndex.FileName} places it in '{listed}'");
                    }
                    tensors.Add(entry.Name, (file, entry));
                }
            }
            if (weightMap is not null)
            {
                foreach (var (name, shard) in weightMap)
                {
                    if (!tensors.ContainsKey(name))
                        throw new CheckpointFormatException(index, name, $"listed for shard '{shard}', which does not contain it");
                }
            }
            return new CheckpointReader(directory, files, tensors);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
