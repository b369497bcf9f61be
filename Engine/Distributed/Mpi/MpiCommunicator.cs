using System.Runtime.InteropServices;

namespace MeZO.Engine.Distributed.Mpi;

/// <summary>
/// The ranks of an Open MPI job (`mpirun -np N mezo …`). MPI is initialised here and finalised at disposal; every call
/// is made from the thread that made this object, as MPI_Init's single-threaded level requires. Open MPI's default
/// error handler ends the whole job on a failed collective, so a rank that dies takes the others with it instead of
/// leaving them waiting; the return codes are checked all the same.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private readonly nint _world;
    private bool _finalized;

    private MpiCommunicator()
    {
        Check(OpenMpi.Init(null, null), "MPI_Init");
        _world = OpenMpi.CommWorld;
        Check(OpenMpi.CommRank(_world, out int rank), "MPI_Comm_rank");
        Check(OpenMpi.CommSize(_world, out int size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    public int Rank { get; }
    public int Size { get; }

    /// <summary>Whether Open MPI's launcher started this process (it sets the job's size in the environment).</summary>
    public static bool LaunchedByOpenMpi => Environment.GetEnvironmentVariable(OpenMpiSizeVariable) is not null;

    private const string OpenMpiSizeVariable = "OMPI_COMM_WORLD_SIZE";

    /// <summary>Bytes this rank has sent and received in collectives: what the job costs the network.</summary>
    public long BytesExchanged { get; private set; }

    /// <summary>
    /// The job this process belongs to: an Open MPI job when Open MPI's launcher started it with more than one
    /// process, otherwise <see cref="SingleProcess"/>. A launcher this binding cannot serve (MPICH's, a missing
    /// libmpi) is an error, not a silent run of N independent copies.
    /// </summary>
    public static ICommunicator ForThisProcess()
    {
        string? openMpiSize = Environment.GetEnvironmentVariable(OpenMpiSizeVariable);
        if (openMpiSize is null)
        {
            if (Environment.GetEnvironmentVariable("PMI_SIZE") is { } size && size != "1")
                throw new InvalidInputException("started by an MPI launcher other than Open MPI's (PMI_SIZE is set): this engine binds " +
                                                "Open MPI only; run it with Open MPI's mpirun (Debian: apt install openmpi-bin)");
            return SingleProcess.Instance;
        }
        if (openMpiSize == "1") return SingleProcess.Instance;
        try
        {
            OpenMpi.Load();
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidInputException($"started by Open MPI's mpirun, but {OpenMpi.Library} cannot be loaded ({e.Message}); " +
                                            "install Open MPI's library (Debian: apt install openmpi-bin)", e);
        }
        return new MpiCommunicator();
    }

    public byte[][] AllGather(ReadOnlySpan<byte> mine)
    {
        int length = mine.Length;
        var counts = new int[Size];
        fixed (int* c = counts)
            Check(OpenMpi.Allgather(&length, 1, OpenMpi.Int, c, 1, OpenMpi.Int, _world), "MPI_Allgather");
        var offsets = new int[Size];
        long total = 0;
        for (int r = 0; r < Size; r++)
        {
            offsets[r] = (int)total;
            total += counts[r];
        }
        if (total > int.MaxValue) throw new InvalidOperationException($"an all-gather of {total} bytes exceeds MPI's int counts");
        var all = new byte[total];
        fixed (byte* send = mine)
        fixed (byte* receive = all)
        fixed (int* c = counts)
        fixed (int* o = offsets)
            Check(OpenMpi.Allgatherv(send, length, OpenMpi.Byte, receive, c, o, OpenMpi.Byte, _world), "MPI_Allgatherv");
        // Allgather of the lengths, then of the bytes: each rank sends its own and receives everyone else's.
        BytesExchanged += (long)sizeof(int) * Size + length + (total - length);
        var parts = new byte[Size][];
        for (int r = 0; r < Size; r++) parts[r] = all.AsSpan(offsets[r], counts[r]).ToArray();
        return parts;
    }

    public void Barrier() => Check(OpenMpi.Barrier(_world), "MPI_Barrier");

    /// <summary>
    /// Ends every rank of the job with <paramref name="exitCode"/>: what a rank that failed alone must do, since the
    /// others would wait for it in the next collective forever. Does not return.
    /// </summary>
    public void Abort(int exitCode)
    {
        OpenMpi.Abort(_world, exitCode);
        Environment.Exit(exitCode);
    }

    private static void Check(int code, string call)
    {
        if (code != OpenMpi.Success) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }

    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        Check(OpenMpi.Finalize(), "MPI_Finalize");
    }
}
