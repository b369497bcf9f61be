using System.Numerics.Tensors;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>The backward of the log-softmax of the target tokens, one row per task.</summary>
internal static unsafe class CpuLogitsBackward
{
    /// <summary>
    /// logitsGrad[s] = outputGrad[s]·(onehot(targets[s]) − softmax(logits[s])); logits and logitsGrad (S, V), targets
    /// and outputGrad (S). Shapes validated by <see cref="BackwardContracts.LogSoftmaxGather"/>; targets checked here.
    /// </summary>
    public static void LogSoftmaxGather(Tensor logits, Tensor targets, Tensor outputGrad, Tensor logitsGrad)
    {
        int vocab = logits.Shape[-1];
        long rows = logits.Shape.Rows;
        float* lp = (float*)logits.Address, og = (float*)outputGrad.Address, gp = (float*)logitsGrad.Address;
        int* tp = (int*)targets.Address;
        for (long r = 0; r < rows; r++)
            if ((uint)tp[r] >= (uint)vocab)
                throw new ArgumentException(
                    $"{nameof(IBackwardOps.LogSoftmaxGatherBackward)}: target {tp[r]} of row {r} is outside the vocabulary ({vocab}) of '{logits.Name}'");
        CpuParallel.For(rows, 1, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                var row = new ReadOnlySpan<float>(lp + r * vocab, vocab);
                var grad = new Span<float>(gp + r * vocab, vocab);
                // The forward's max-shifted float32 exponentials, so the softmax here is the one its log-sum-exp used.
                float max = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, max, grad);
                TensorPrimitives.Exp(grad, grad);
                float sum = TensorPrimitives.Sum<float>(grad);
                TensorPrimitives.Multiply(grad, -og[r] / sum, grad);
                grad[tp[r]] += og[r];
            }
        });
    }
}
