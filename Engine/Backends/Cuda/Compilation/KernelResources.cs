using System.Globalization;
using System.Text.RegularExpressions;

namespace MeZO.Engine.Backends.Cuda.Compilation;

/// <summary>What ptxas reports for one kernel: registers per thread, static shared memory, stack and spills.</summary>
public sealed partial record KernelResources(string Kernel, int Registers, int SharedBytes, int StackBytes, int SpillStoreBytes,
    int SpillLoadBytes)
{
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;

    /// <summary>
    /// Reads ptxas's verbose log (--ptxas-options=-v), which has per kernel:
    /// <code>
    /// ptxas info    : Compiling entry function 'mezo_add' for 'sm_80'
    /// ptxas info    : Function properties for mezo_add
    /// ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    /// ptxas info    : Used 30 registers, 4096 bytes smem, 376 bytes cmem[0]
    /// </code>
    /// Non-inlined device functions get a "Function properties" block too; their stack and spills are added to the
    /// entry that follows, whose code they are part of.
    /// </summary>
    public static IReadOnlyList<KernelResources> ParsePtxasLog(string log)
    {
        var kernels = new List<KernelResources>();
        string? entry = null;
        int stack = 0, spillStores = 0, spillLoads = 0;
        foreach (string raw in log.Split('\n'))
        {
            string line = raw.Trim();
            var compiling = CompilingEntry().Match(line);
            if (compiling.Success)
            {
                entry = compiling.Groups[1].Value;
                continue;
            }
            var frame = StackAndSpills().Match(line);
            if (frame.Success)
            {
                stack += Number(frame.Groups[1]);
                spillStores += Number(frame.Groups[2]);
                spillLoads += Number(frame.Groups[3]);
                continue;
            }
            var used = UsedRegisters().Match(line);
            if (used.Success && entry is not null)
            {
                var shared = SharedMemory().Match(line);
                kernels.Add(new KernelResources(entry, Number(used.Groups[1]), shared.Success ? Number(shared.Groups[1]) : 0,
                    stack, spillStores, spillLoads));
                entry = null;
                stack = spillStores = spillLoads = 0;
            }
        }
        return kernels;
    }

    private static int Number(Group g) => int.Parse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^ptxas info\s*: Compiling entry function '([^']+)'")]
    private static partial Regex CompilingEntry();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex StackAndSpills();

    [GeneratedRegex(@"^ptxas info\s*: Used (\d+) registers")]
    private static partial Regex UsedRegisters();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedMemory();
}
