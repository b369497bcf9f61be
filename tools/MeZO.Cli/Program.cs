using System.CommandLine;
using System.CommandLine.Invocation;
using MeZO.Cli;
using MeZO.Engine;
using MeZO.Engine.Distributed.Mpi;

// Exit codes: 0 success, 1 a user error (one line on stderr), 2 an internal error.
// Open MPI gives its ranks a pseudo-terminal for stdout, and .NET then writes the terminal's keypad escape into it
// (mpirun's output, a --json document included): a rank's stdout is a log, not a terminal, so no terminfo is used.
if (MpiCommunicator.LaunchedByOpenMpi) Environment.SetEnvironmentVariable("TERM", "dumb");
var root = MezoRoot.Create();
// `mezo help [COMMAND]` as well as `mezo [COMMAND] --help`.
if (args is ["help", .. var rest]) args = [.. rest, "--help"];
var result = root.Parse(args, new ParserConfiguration { EnablePosixBundling = false });
if (result.Action is ParseErrorAction)
{
    Console.Error.WriteLine(ParseErrors.Describe(result));
    return 1;
}

bool verbose = result.GetValue<bool>(MezoRoot.VerboseName);
string command = $"mezo {result.CommandResult.Command.Name}";
try
{
    // Exceptions reach the handlers below; Ctrl+C and SIGTERM are InterruptNotice's, not System.CommandLine's.
    return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
}
// Through MpiJob: under mpirun, a rank that fails ends the whole job.
catch (InvalidInputException e)
{
    return MpiJob.Fail(verbose ? e.ToString() : e.Message, 1);
}
catch (IOException e)
{
    return MpiJob.Fail(verbose ? e.ToString() : $"{command}: {e.Message}", 1);
}
catch (UnauthorizedAccessException e)
{
    return MpiJob.Fail(verbose ? e.ToString() : $"{command}: {e.Message}", 1);
}
catch (Exception e)
{
    return MpiJob.Fail(verbose ? e.ToString() : $"{command}: internal error: {e.GetType().Name}: {e.Message} (run with --verbose for details)", 2);
}
