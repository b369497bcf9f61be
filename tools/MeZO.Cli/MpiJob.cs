using MeZO.Engine.Distributed;
using MeZO.Engine.Distributed.Mpi;

namespace MeZO.Cli;

/// <summary>
/// The Open MPI job this process is a rank of, when mpirun started it (`mpirun -np N mezo train …`). A rank that fails
/// must end the whole job: the others would wait for it in their next collective forever.
/// </summary>
internal static class MpiJob
{
    /// <summary>How long a rank other than 0 waits before it reports its error and ends the job: a failure every rank
    /// meets (a bad setting, a full disk under rank 0) is then reported once, by rank 0, which ends the job first.</summary>
    private static readonly TimeSpan OthersDefer = TimeSpan.FromSeconds(3);

    private static MpiCommunicator? s_job;

    /// <summary>This process's ranks: an Open MPI job's (MPI initialised here), or one process outside mpirun.</summary>
    public static ICommunicator Join()
    {
        var ranks = MpiCommunicator.ForThisProcess();
        s_job = ranks as MpiCommunicator;
        return ranks;
    }

    /// <summary>The job's ranks are done with MPI: the command succeeded on every rank.</summary>
    public static void Leave(ICommunicator ranks)
    {
        s_job = null;
        ranks.Dispose();
    }

    /// <summary>
    /// Writes a failed command's message to stderr and returns its exit code; in a job, it names the rank (unless it is
    /// rank 0) and ends every rank with that code instead of returning.
    /// </summary>
    public static int Fail(string message, int exitCode)
    {
        if (s_job is not { } job)
        {
            Console.Error.WriteLine(message);
            return exitCode;
        }
        if (job.Rank != 0) Thread.Sleep(OthersDefer);
        Console.Error.WriteLine(job.Rank == 0 ? message : $"rank {job.Rank} of {job.Size}: {message}");
        Console.Error.Flush();
        job.Abort(exitCode);
        return exitCode;
    }
}
