using MeZO.Trainer.Data;

namespace MeZO.Trainer.Training;

/// <summary>
/// The examples of step t, a function of (run seed, t) alone, so a resumed run sees exactly the batches an
/// uninterrupted one would: the training set is shuffled once per epoch (a permutation seeded by the run seed and the
/// epoch) and consumed in order, batches running across epoch boundaries.
/// </summary>
public sealed class BatchSchedule(int exampleCount, int batchSize, ulong runSeed)
{
    private int[]? _permutation;
    private long _epoch = -1;

    public int[] IndicesOf(long step)
    {
        var indices = new int[batchSize];
        for (int k = 0; k < batchSize; k++)
        {
            long position = step * batchSize + k;
            long epoch = position / exampleCount;
            if (epoch != _epoch)
            {
                var mix = new SplitMix64(runSeed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));
                _permutation = Permutation.Random(exampleCount, mix.Next());
                _epoch = epoch;
            }
            indices[k] = _permutation![position % exampleCount];
        }
        return indices;
    }
}
