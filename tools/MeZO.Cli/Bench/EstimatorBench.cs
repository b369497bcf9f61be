using MeZO.Engine;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench estimator`: how far MeZO's projected gradient g = (L+ − L−)/2ε lies from the directional derivative z·∇L
/// it estimates, per ε, for each storage dtype (issue 12). Large ε pays the central difference's truncation error
/// (∝ ε²); small ε pays float32 rounding of the two losses, divided by 2ε. One fixed batch of random tokens, every
/// position scored, L the mean negative log-likelihood.
/// </summary>
internal static class EstimatorBench
{
    public static readonly double[] Epsilons = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6];

    public static void Run(string modelDirectory, IReadOnlyList<DType> storages, int batch, int length, int seeds, bool json, TextWriter output)
    {
        var results = storages.Select(type => Measure(modelDirectory, type, batch, length, seeds)).ToArray();
        if (json)
            WriteJson(modelDirectory, results, batch, length);
        else
            WriteTable(modelDirectory, results, batch, length, output);
    }

    private sealed record StorageResult(DType Storage, string ModelType, long Parameters, double Loss, ulong[] Seeds,
        double[] DirectionalDerivatives, double[][] ProjectedGradients) // (seed), (ε, seed)
    {
        public double[] RelativeErrors(int e) =>
            [.. DirectionalDerivatives.Select((d, s) => Math.Abs(ProjectedGradients[e][s] - d) / Math.Abs(d))];

        public double MedianRelativeError(int e) => Median(RelativeErrors(e));
    }

    private static StorageResult Measure(string modelDirectory, DType storage, int batchSize, int length, int seedCount)
    {
        using var backend = BackendFactory.Create("cpu");
        using var model = Transformer.Load(modelDirectory, backend, storage);
        var spec = model.Spec;
        var random = new Random(7);
        var sequences = Enumerable.Range(0, batchSize)
            .Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(spec.VocabSize)).ToArray()).ToArray();
        var batch = TokenBatch.Pack(sequences, PaddingSide.Right);
        var rows = Enumerable.Range(0, batchSize).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => batch.Row(b, t))).ToArray();
        var targets = rows.Select(r => batch.Ids[r + 1]).ToArray();
        // −1/S per pair: the mean NLL, training's loss; the relative error does not depend on the scale.
        var weights = Enumerable.Repeat(-1f / rows.Length, rows.Length).ToArray();

        using var check = new EstimatorCheck(model, batch, rows, targets, weights);
        var seeds = Enumerable.Range(1, seedCount).Select(s => (ulong)s).ToArray();
        var derivatives = seeds.Select(check.DirectionalDerivative).ToArray();
        var projected = Epsilons.Select(eps => seeds.Select(s => check.ProjectedGradient(s, eps)).ToArray()).ToArray();
        return new StorageResult(storage, spec.ModelType, check.ParameterCount, check.Objective, seeds, derivatives, projected);
    }

    private static void WriteTable(string modelDirectory, StorageResult[] results, int batch, int length, TextWriter output)
    {
        var first = results[0];
        output.WriteLine($"estimator: {Path.GetFullPath(modelDirectory)} ({first.ModelType}, {Units.Count(first.Parameters)} parameters), " +
                         $"batch {batch} × {length} tokens, every position scored, {first.Seeds.Length} seeds");
        foreach (var r in results)
            output.WriteLine($"  {r.Storage,-4} mean NLL {r.Loss:F4}, |z·∇L| median {Median([.. r.DirectionalDerivatives.Select(Math.Abs)]):G3}");
        output.WriteLine("|g − z·∇L| / |z·∇L|, median over seeds (g = (L+ − L−)/2ε; z·∇L from the backward pass, in double):");
        output.WriteLine("  ε     " + string.Concat(results.Select(r => $"{r.Storage,12}")));
        for (int e = 0; e < Epsilons.Length; e++)
            output.WriteLine($"  {Epsilons[e],-6:0e0}" + string.Concat(results.Select(r => $"{r.MedianRelativeError(e),12:0.0e+0}")));
    }

    private static void WriteJson(string modelDirectory, StorageResult[] results, int batch, int length) => JsonOutput.Write(json =>
    {
        json.WriteStartObject();
        json.WriteString("model", Path.GetFullPath(modelDirectory));
        json.WriteString("model_type", results[0].ModelType);
        json.WriteNumber("parameters", results[0].Parameters);
        json.WriteNumber("batch", batch);
        json.WriteNumber("length", length);
        json.WriteStartArray("seeds");
        foreach (ulong s in results[0].Seeds) json.WriteNumberValue(s);
        json.WriteEndArray();
        json.WriteStartArray("eps");
        foreach (double e in Epsilons) json.WriteNumberValue(e);
        json.WriteEndArray();
        json.WriteStartArray("storage");
        foreach (var r in results)
        {
            json.WriteStartObject();
            json.WriteString("dtype", r.Storage.ToString().ToLowerInvariant());
            json.WriteNumber("loss", r.Loss);
            Array(json, "directional_derivatives", r.DirectionalDerivatives);
            json.WriteStartArray("projected_gradients"); // [ε][seed]
            foreach (var row in r.ProjectedGradients) Array(json, null, row);
            json.WriteEndArray();
            Array(json, "median_relative_error", [.. Enumerable.Range(0, Epsilons.Length).Select(r.MedianRelativeError)]);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    });

    private static void Array(System.Text.Json.Utf8JsonWriter json, string? name, double[] values)
    {
        if (name is null) json.WriteStartArray(); else json.WriteStartArray(name);
        foreach (double v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
