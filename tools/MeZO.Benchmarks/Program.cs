using BenchmarkDotNet.Running;
using MeZO.Verification.Measurement;

// `report [repetitions]`: the quick Stopwatch report `mezo bench` prints; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "report")
{
    int repetitions = args.Length > 1 ? int.Parse(args[1]) : 20;
    foreach (var measurement in MatMulReport.Run(repetitions)) Console.WriteLine(measurement);
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
