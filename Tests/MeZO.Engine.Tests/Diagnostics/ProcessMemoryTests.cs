using System.Runtime.InteropServices;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Diagnostics;

[TestFixture]
public sealed class ProcessMemoryTests
{
    /// <summary>
    /// With 256 MiB of fresh native memory touched, the peak is at least the current resident set, which /proc/self/statm
    /// (a different file, in pages) reports independently, and that holds the block. An earlier test may have peaked
    /// higher still, so the peak is not compared with its value before.
    /// </summary>
    [Test]
    public unsafe void ThePeakCoversWhatTheProcessHoldsNow()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("VmHWM is read from /proc/self/status, which only Linux has");
        const long size = 256L << 20;
        byte* block = (byte*)NativeMemory.Alloc((nuint)size);
        try
        {
            for (long i = 0; i < size; i += 4096) block[i] = 1; // fault in every page
            long resident = long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1]) * Environment.SystemPageSize;
            long peak = ProcessMemory.PeakResidentBytes()!.Value;
            Assert.That(resident, Is.GreaterThanOrEqualTo(size), "statm sees the touched block");
            Assert.That(peak, Is.GreaterThanOrEqualTo(resident));
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }
}
