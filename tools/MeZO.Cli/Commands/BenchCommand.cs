using System.Diagnostics;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu.MatMul;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Commands;

/// <summary>
/// `mezo bench`: throughput measured side by side in one run, so the ratios mean something on a shared machine.
/// `forward` times the forward pass of a generated OPT-125m-shaped checkpoint and the matrix products against this
/// machine's measured FMA peak.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary => "throughput: forward pass tokens/s and matrix-product GFLOP/s against the machine's peak";
    public string Help => """
        mezo bench forward [--batch B] [--length T] [--dtype f32|bf16] [--repeat N] [--model DIR]

          forward      forward-pass tokens/s on an OPT-125m-shaped checkpoint generated on the fly (or --model DIR),
                       then each linear layer's shape as a matrix product, in GFLOP/s and % of the measured peak
          --batch B    sequences per forward call (default 1)
          --length T   tokens per sequence (default 256)
          --dtype      weight storage dtype of the generated checkpoint (default f32)
          --repeat N   timed forward calls (default 5)
        """;

    /// <summary>OPT-125m's config.json (facebook/opt-125m), the shape the target is stated for.</summary>
    public const string Opt125mConfig = """
        {
          "model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": 50272, "hidden_size": 768,
          "num_hidden_layers": 12, "ffn_dim": 3072, "num_attention_heads": 12, "max_position_embeddings": 2048,
          "do_layer_norm_before": true, "word_embed_proj_dim": 768, "activation_function": "relu",
          "enable_bias": true, "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float32"
        }
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string> { "batch", "length", "dtype", "repeat", "model" }, new HashSet<string>());
        if (cl.Positional.Count != 1 || cl.Positional[0] != "forward")
            throw cl.Error("say what to benchmark: mezo bench forward");
        int batch = cl.Int("batch", 1), length = cl.Int("length", 256), repeat = cl.Int("repeat", 5);
        if (batch <= 0 || length <= 0 || repeat <= 0) throw cl.Error("--batch, --length and --repeat must be positive");
        var dtype = ModelOptions.StorageType(cl) ?? DType.F32;

        string? generated = null;
        string directory = cl.String("model") ?? (generated = Path.Combine(Path.GetTempPath(), "mezo-bench-opt125m-" + Guid.NewGuid().ToString("N")));
        try
        {
            if (generated is not null)
            {
                output.WriteLine($"generating an OPT-125m-shaped {dtype} checkpoint in {generated} ...");
                SyntheticCheckpoint.Write(generated, Opt125mConfig, dtype, seed: 1);
            }
            using var backend = BackendFactory.Create("cpu");
            using var model = Transformer.Load(directory, backend);
            ForwardThroughput(model, batch, length, repeat, output);
        }
        finally
        {
            if (generated is not null && Directory.Exists(generated)) Directory.Delete(generated, recursive: true);
        }

        output.WriteLine();
        output.WriteLine("matrix products (linear layers of OPT-125m), measured side by side with the FMA peak:");
        foreach (var m in MatMulReport.Run(repetitions: 5))
            output.WriteLine("  " + m);
        return 0;
    }

    private static void ForwardThroughput(Transformer model, int batch, int length, int repeat, TextWriter output)
    {
        var spec = model.Spec;
        var random = new Random(7);
        var sequences = Enumerable.Range(0, batch)
            .Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(spec.VocabSize)).ToArray()).ToArray();
        var tokens = TokenBatch.Pack(sequences, PaddingSide.Right);
        using var ws = model.CreateWorkspace(batch, length);
        // Score every position: the whole-sequence loss, the heaviest use of the LM head.
        var rows = Enumerable.Range(0, batch * length - 1).ToArray();
        var targets = rows.Select(r => tokens.Ids[r + 1]).ToArray();
        var logProbs = new float[rows.Length];
        model.ScoreTokens(ws, tokens, rows, targets, logProbs); // warm-up: JIT, page faults, pools
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeat; i++) model.ScoreTokens(ws, tokens, rows, targets, logProbs);
        double seconds = clock.Elapsed.TotalSeconds / repeat;
        double flops = 2.0 * model.Weights.ParameterCount * batch * length;
        output.WriteLine($"forward {spec.ModelType} {Units.Count(model.Weights.ParameterCount)} params, batch {batch} × {length} tokens: " +
                         $"{seconds * 1000:F1} ms/call, {batch * length / seconds:F0} tokens/s, ~{flops / seconds / 1e9:F1} GFLOP/s " +
                         $"(2·params·tokens), memory {backend(model)}");
        static string backend(Transformer m) => m.Backend.Memory.ToString();
    }
}
