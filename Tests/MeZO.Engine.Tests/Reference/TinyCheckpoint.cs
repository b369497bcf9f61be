using System.Text.Json.Nodes;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// A random Hugging Face model folder written by <see cref="TinyCheckpoints"/>, with what was written: the parsed
/// config.json and every stored tensor by its Hugging Face name (a tied lm_head is not stored, as transformers'
/// save_pretrained leaves it out). Disposing deletes the folder.
/// </summary>
public sealed class TinyCheckpoint : IDisposable
{
    internal TinyCheckpoint(string folder, TinyVariant variant, TinyCheckpointOptions options, JsonObject config,
        IReadOnlyDictionary<string, ReferenceTensor> weights)
    {
        Folder = folder;
        Variant = variant;
        Options = options;
        Config = config;
        Weights = weights;
    }

    /// <summary>The model folder: config.json and model.safetensors (or shards + model.safetensors.index.json).</summary>
    public string Folder { get; }

    public TinyVariant Variant { get; }

    public TinyCheckpointOptions Options { get; }

    /// <summary>config.json as written.</summary>
    public JsonObject Config { get; }

    /// <summary>config.json's model_type ("opt", "llama", "mistral", "qwen2", "gpt2").</summary>
    public string ModelType => (string)Config["model_type"]!;

    public int VocabSize => (int)Config["vocab_size"]!;

    /// <summary>The stored tensors by Hugging Face name, values exactly as stored (rounded to the options' dtype).</summary>
    public IReadOnlyDictionary<string, ReferenceTensor> Weights { get; }

    /// <summary>The naive double-precision forward pass of this checkpoint.</summary>
    public NaiveTransformer Oracle() => new(Config, Weights);

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }

    public override string ToString() => $"{Variant} {Options.DType}{(Options.Sharded ? " sharded" : "")} at {Folder}";
}
