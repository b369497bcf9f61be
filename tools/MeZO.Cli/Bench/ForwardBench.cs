using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Models;
using MeZO.Verification.Measurement;

namespace MeZO.Cli.Bench;

/// <summary>`mezo bench forward`: forward-pass tokens/s, then each linear layer's product against the measured FMA peak.</summary>
internal static class ForwardBench
{
    public static void Run(string modelDirectory, int batch, int length, int repeat, TextWriter output)
    {
        using (var backend = BackendFactory.Create("cpu"))
        using (var model = Transformer.Load(modelDirectory, backend))
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
                             $"(2·params·tokens); {backend.Memory}");
        }
        output.WriteLine();
        output.WriteLine("matrix products (linear layers of OPT-125m), each call timed beside a run of the FMA peak:");
        foreach (var m in MatMulReport.Run(repetitions: 5))
            output.WriteLine("  " + m);
    }
}
