using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Trainer.Default;

namespace MeZO.Cli.Bench;

/// <summary>
/// A temporary OPT-125m-shaped checkpoint with random weights (and the bundled default's word-level tokenizer, whose
/// ids all fall inside OPT's vocabulary), deleted on Dispose: the model the benchmarks measure when none is given.
/// </summary>
internal sealed class SyntheticOpt125m : IDisposable
{
    /// <summary>OPT-125m's config.json (facebook/opt-125m), the shape the targets are stated for.</summary>
    public const string Config = """
        {
          "model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": 50272, "hidden_size": 768,
          "num_hidden_layers": 12, "ffn_dim": 3072, "num_attention_heads": 12, "max_position_embeddings": 2048,
          "do_layer_norm_before": true, "word_embed_proj_dim": 768, "activation_function": "relu",
          "enable_bias": true, "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float32"
        }
        """;

    /// <param name="configOnly">config.json alone, for what reads no weights (`bench step --plan`)</param>
    public SyntheticOpt125m(DType dtype, TextWriter log, bool configOnly = false)
    {
        Directory = Path.Combine(Path.GetTempPath(), "mezo-bench-opt125m-" + Guid.NewGuid().ToString("N")[..12]);
        if (configOnly)
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllText(Path.Combine(Directory, "config.json"), Config);
            return;
        }
        log.WriteLine($"generating an OPT-125m-shaped {dtype} checkpoint in {Directory} ...");
        try
        {
            SyntheticCheckpoint.Write(Directory, Config, dtype, seed: 1);
            var (bundledModel, _) = BundledDefault.Prepare();
            File.Copy(Path.Combine(bundledModel, "tokenizer.json"), Path.Combine(Directory, "tokenizer.json"));
        }
        catch
        {
            Dispose(); // no caller holds this object yet to dispose it (a full disk must not leave half a GiB behind)
            throw;
        }
    }

    public string Directory { get; }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
    }
}
