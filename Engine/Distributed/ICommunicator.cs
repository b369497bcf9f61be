namespace MeZO.Engine.Distributed;

/// <summary>
/// The processes of one job and the few collectives MeZO needs between them. MeZO's ranks share the seed, so a step
/// exchanges only a handful of numbers per example (or per sample), whatever the model's size: an all-gather of bytes
/// is the whole protocol. Every rank must call every collective in the same order.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's place in the job, from 0.</summary>
    int Rank { get; }

    /// <summary>The number of processes in the job.</summary>
    int Size { get; }

    /// <summary>Every rank's bytes, indexed by rank. Ranks may contribute different lengths (0 included).</summary>
    byte[][] AllGather(ReadOnlySpan<byte> mine);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}
