using System.Runtime.InteropServices;

namespace MeZO.Engine.Distributed.Mpi;

/// <summary>
/// The handful of MPI calls MeZO needs, bound to Open MPI's libmpi.so.40 (Open MPI 4 and 5 share it). Open MPI's
/// handles are addresses of library globals (MPI_COMM_WORLD is &amp;ompi_mpi_comm_world), unlike MPICH's integers,
/// so they are looked up as exports. MPI.NET 1.4 targets Microsoft MPI's msmpi.dll and integer handles, and crashes
/// against Open MPI, hence this binding.
/// </summary>
internal static unsafe partial class OpenMpi
{
    public const string Library = "libmpi.so.40";
    public const int Success = 0;

    /// <summary>The library, loaded on first use; loading fails with <see cref="DllNotFoundException"/> where Open MPI is absent.</summary>
    private static readonly Lazy<nint> Handle = new(() => NativeLibrary.Load(Library));

    public static nint CommWorld => Export("ompi_mpi_comm_world");
    public static nint Int => Export("ompi_mpi_int");
    public static nint Byte => Export("ompi_mpi_byte");

    private static nint Export(string name) => NativeLibrary.GetExport(Handle.Value, name);

    /// <summary>Loads the library now, so a missing Open MPI is reported before anything else is tried.</summary>
    public static void Load() => _ = Handle.Value;

    [LibraryImport(Library, EntryPoint = "MPI_Init")]
    public static partial int Init(int* argc, byte*** argv);

    [LibraryImport(Library, EntryPoint = "MPI_Finalize")]
    public static partial int Finalize();

    [LibraryImport(Library, EntryPoint = "MPI_Comm_rank")]
    public static partial int CommRank(nint comm, out int rank);

    [LibraryImport(Library, EntryPoint = "MPI_Comm_size")]
    public static partial int CommSize(nint comm, out int size);

    [LibraryImport(Library, EntryPoint = "MPI_Barrier")]
    public static partial int Barrier(nint comm);

    [LibraryImport(Library, EntryPoint = "MPI_Allgather")]
    public static partial int Allgather(void* send, int sendCount, nint sendType, void* receive, int receiveCount, nint receiveType, nint comm);

    [LibraryImport(Library, EntryPoint = "MPI_Allgatherv")]
    public static partial int Allgatherv(void* send, int sendCount, nint sendType, void* receive, int* receiveCounts, int* displacements,
        nint receiveType, nint comm);

    [LibraryImport(Library, EntryPoint = "MPI_Abort")]
    public static partial int Abort(nint comm, int errorCode);
}
