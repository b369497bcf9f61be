namespace MeZO.Engine.Distributed;

/// <summary>A job of one process: what a run outside mpirun, and every program that does not distribute, computes in.</summary>
public sealed class SingleProcess : ICommunicator
{
    public static readonly SingleProcess Instance = new();

    private SingleProcess()
    {
    }

    public int Rank => 0;
    public int Size => 1;
    public byte[][] AllGather(ReadOnlySpan<byte> mine) => [mine.ToArray()];
    public void Barrier() { }
    public void Dispose() { }
}
