using MeZO.Engine.Distributed;

namespace MeZO.Tests.Common;

/// <summary>
/// A job of N ranks as N threads of the test process, each with its own communicator over shared slots: the same
/// collectives as an Open MPI job, for tests that check what ranks compute without launching processes. A rank that
/// throws fails the job, and the ranks waiting for it give up instead of waiting forever.
/// </summary>
public sealed class InProcessJob
{
    private readonly Barrier _barrier;
    private readonly byte[][] _slots;
    private volatile Exception? _failure;

    private InProcessJob(int size)
    {
        _barrier = new Barrier(size);
        _slots = new byte[size][];
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks at once; returns each rank's result, by rank.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body)
    {
        var job = new InProcessJob(size);
        var results = new T[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                results[rank] = body(new ThreadRank(job, rank));
            }
            catch (Exception e)
            {
                job._failure ??= e;
            }
        }, maxStackSize: 16 << 20)).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        if (job._failure is { } failure) throw new AggregateException("a rank of the in-process job failed", failure);
        return results;
    }

    private void Wait()
    {
        while (!_barrier.SignalAndWait(TimeSpan.FromMilliseconds(200)))
            if (_failure is not null)
                throw new OperationCanceledException("another rank of the in-process job failed");
    }

    private sealed class ThreadRank(InProcessJob job, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => job._slots.Length;

        public byte[][] AllGather(ReadOnlySpan<byte> mine)
        {
            job._slots[rank] = mine.ToArray();
            job.Wait();
            var all = job._slots.Select(s => (byte[])s.Clone()).ToArray();
            // Nobody writes the slots of the next collective before everyone has read this one's.
            job.Wait();
            return all;
        }

        public void Barrier() => job.Wait();
        public void Dispose() { }
    }
}
