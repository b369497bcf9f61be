using MeZO.Engine.Backends;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Noise;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Tests.Models.Streaming;

/// <summary>What a few MeZO steps on one model left: every loss, g and evaluation score as bits, the stored weights, the device's peak.</summary>
internal sealed record StreamedTraining(long[] ResultBits, byte[][] Weights, long DevicePeak)
{
    private static readonly int[][] Sequences = [[1, 5, 9, 13, 2, 7, 4], [1, 8, 3], [6, 6, 2, 9, 1]];

    /// <summary>
    /// Three steps of MeZO (one lockstep ±ε sweep each, weight decay on) on <paramref name="device"/>, the layers streamed
    /// from <paramref name="streaming"/>'s host when given, then an unperturbed evaluation of the batch.
    /// </summary>
    public static StreamedTraining Run(string folder, IBackend device, DType storage, LayerStreaming? streaming)
    {
        using var model = Transformer.Load(folder, device, storage, streaming: streaming);
        var step = new MezoStep(TrainableSet.Select(model.Weights, null), eps: 1e-2, weightDecay: 0.1);
        var batch = TokenBatch.Pack(Sequences, PaddingSide.Left);
        var pairs = Enumerable.Range(0, Sequences.Length)
            .SelectMany(b => Enumerable.Range(0, Sequences[b].Length - 1).Select(i => (Row: batch.Row(b, i), Target: Sequences[b][i + 1])))
            .ToArray();
        int[] rows = pairs.Select(p => p.Row).ToArray(), targets = pairs.Select(p => p.Target).ToArray();
        var plus = new float[rows.Length];
        var minus = new float[rows.Length];
        var bits = new List<long>();
        using (var plusWs = model.CreateWorkspace(batch.BatchSize, batch.Length))
        using (var minusWs = model.CreateLockstepWorkspace(batch.BatchSize, batch.Length))
        {
            for (long t = 0; t < 3; t++)
            {
                ulong seed = StepSeeds.For(11, t, 0);
                var (losses, g) = step.Evaluate(seed, p =>
                {
                    model.ScoreTokensLockstep(plusWs, minusWs, batch, rows, targets, p, plus, minus);
                    return new LossPair(-plus.Average(), -minus.Average());
                });
                bits.AddRange([BitConverter.DoubleToInt64Bits(losses.Plus), BitConverter.DoubleToInt64Bits(losses.Minus), BitConverter.DoubleToInt64Bits(g)]);
                step.Update(seed, learningRate: 5e-2, g);
            }
            model.ScoreTokens(plusWs, batch, rows, targets, plus);
            bits.AddRange(plus.Select(v => (long)BitConverter.SingleToInt32Bits(v)));
        }
        var weights = model.Weights.Parameters.Select(p =>
        {
            var bytes = new byte[p.Tensor.ByteCount];
            p.Tensor.Backend.Download(p.Tensor, 0, bytes);
            return bytes;
        }).ToArray();
        return new StreamedTraining(bits.ToArray(), weights, device.Memory.PeakTotal);
    }
}
