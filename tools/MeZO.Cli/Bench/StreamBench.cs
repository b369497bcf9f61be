using System.Diagnostics;
using MeZO.Engine;
using MeZO.Engine.Backends;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench step --max-device-memory BYTES`: the same MeZO step on the model resident and streamed (its layers
/// copied in from host memory as each runs, <see cref="LayerStreaming"/>), each on a backend of its own, rounds
/// alternating between the two so a busy machine slows both alike; medians and the median of the rounds' ratios. From
/// the difference it derives what one layer's copy costs, the figure a projection to larger models starts from.
/// </summary>
internal static class StreamBench
{
    public static void Run(string modelDirectory, string backendName, DType? storage, DType? compute, int batch, int length, int rounds,
        long budget, TextWriter output)
    {
        using var residentBackend = BackendFactory.Create(backendName);
        using var streamedBackend = BackendFactory.Create(backendName);
        using var host = BackendFactory.CreateStreamingHost(streamedBackend);
        using var resident = Transformer.Load(modelDirectory, residentBackend, storage, compute: compute);
        using var streamed = Transformer.Load(modelDirectory, streamedBackend, storage, streaming: new LayerStreaming(host, budget), compute: compute);
        using var residentStep = new TimedStep(resident, batch, length);
        using var streamedStep = new TimedStep(streamed, batch, length);
        residentStep.Run(); // warm-up: kernels, workspaces, the perturbed paths
        streamedStep.Run();

        var residentSeconds = new double[rounds];
        var streamedSeconds = new double[rounds];
        var ratios = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            residentSeconds[r] = residentStep.Run();
            streamedSeconds[r] = streamedStep.Run();
            ratios[r] = streamedSeconds[r] / residentSeconds[r];
        }
        double residentMedian = Median(residentSeconds), streamedMedian = Median(streamedSeconds);
        int layers = resident.Spec.NumLayers;
        long layerBytes = resident.Weights.Layers.Sum(l => l.Tensors.Sum(t => t.ByteCount)) / Math.Max(1, layers);
        // Each layer crosses once per step (the ±ε streams run it in lockstep): the difference per layer is what the copies
        // add where they do not overlap the compute.
        double extraSeconds = (streamedMedian - residentMedian) / Math.Max(1, layers);
        double copySeconds = LayerCopySeconds(streamed.Weights.Layers[0], streamedBackend, rounds);

        output.WriteLine($"{residentBackend.Name}: {Path.GetFileName(resident.Directory)}, {Units.Count(resident.Weights.ParameterCount)} parameters " +
                         $"({Units.Bytes(resident.Weights.Bytes)}), {layers} layers of {Units.Bytes(layerBytes)}, batch {batch} × {length}, " +
                         $"median of {rounds} alternating rounds");
        output.WriteLine($"  resident step     {residentMedian * 1e3,9:F1} ms   device peak {Units.Bytes(residentBackend.Memory.PeakTotal)}");
        output.WriteLine($"  streamed step     {streamedMedian * 1e3,9:F1} ms   device peak {Units.Bytes(streamedBackend.Memory.PeakTotal)} " +
                         $"(budget {Units.Bytes(budget)}), layers on the host {Units.Bytes(host.Memory.Current(MemoryCategory.Weights))}");
        output.WriteLine($"  streamed/resident {Median(ratios),9:F3}×   median of the rounds' ratios");
        output.WriteLine($"  per layer         {residentMedian / layers * 1e3,9:F2} ms of the resident step (all of it over {layers}), " +
                         $"{extraSeconds * 1e3:F2} ms more streamed");
        output.WriteLine($"  layer copy        {copySeconds * 1e3,9:F2} ms   {layerBytes / copySeconds / 1e9:F1} GB/s, one layer's upload timed apart " +
                         $"(median of {rounds}; {(streamedBackend is IStreamingDevice ? "the streamed step copies on its own stream instead" : "synchronous, as the streamed step copies")})");
    }

    /// <summary>Seconds to upload one layer's host tensors into a device buffer of its size, median of a few (after the steps).</summary>
    private static unsafe double LayerCopySeconds(LayerWeights layer, IBackend device, int rounds)
    {
        var tensors = layer.Tensors.ToArray();
        // 16-bit elements: every parameter dtype is a whole number of them.
        using var target = device.Allocate(new TensorShape(tensors.Max(t => checked((int)(t.ByteCount / 2)))), DType.F16, MemoryCategory.Workspace, "copy probe");
        var seconds = new double[Math.Max(3, rounds)];
        for (int r = 0; r < seconds.Length; r++)
        {
            long start = Stopwatch.GetTimestamp();
            foreach (var t in tensors) device.Upload(target, 0, new ReadOnlySpan<byte>((void*)t.Address, (int)t.ByteCount));
            device.Synchronize();
            seconds[r] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return Median(seconds);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>One MeZO step on a random full-length batch (lockstep ±ε, then the update at lr 0, so every step does the same work).</summary>
    private sealed class TimedStep : IDisposable
    {
        private readonly Transformer _model;
        private readonly TokenBatch _tokens;
        private readonly int[] _rows, _targets;
        private readonly float[] _plus, _minus;
        private readonly ForwardWorkspace _plusWs, _minusWs;
        private readonly MezoStep _step;
        private ulong _seed = 1;

        public TimedStep(Transformer model, int batch, int length)
        {
            _model = model;
            var random = new Random(batch * 7919 + length);
            var sequences = Enumerable.Range(0, batch)
                .Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(0, model.Spec.VocabSize)).ToArray())
                .ToArray();
            _tokens = TokenBatch.Pack(sequences, PaddingSide.Right);
            _rows = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(0, length - 1).Select(t => _tokens.Row(b, t))).ToArray();
            _targets = Enumerable.Range(0, batch).SelectMany(b => sequences[b].Skip(1)).ToArray();
            _plus = new float[_rows.Length];
            _minus = new float[_rows.Length];
            _step = new MezoStep(TrainableSet.Select(model.Weights, nameFilter: null), eps: 1e-3, weightDecay: 0);
            _plusWs = model.CreateWorkspace(batch, length);
            try
            {
                _minusWs = model.CreateLockstepWorkspace(batch, length);
            }
            catch
            {
                _plusWs.Dispose();
                throw;
            }
        }

        /// <summary>Seconds for one step, from the first copy or kernel to the updated weights.</summary>
        public double Run()
        {
            long start = Stopwatch.GetTimestamp();
            var (_, g) = _step.Evaluate(_seed, plus =>
            {
                _model.ScoreTokensLockstep(_plusWs, _minusWs, _tokens, _rows, _targets, plus, _plus, _minus);
                return new LossPair(-_plus.Average(), -_minus.Average());
            });
            _step.Update(_seed++, learningRate: 0, g);
            _model.Backend.Synchronize();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        public void Dispose()
        {
            _plusWs.Dispose();
            _minusWs.Dispose();
        }
    }
}
