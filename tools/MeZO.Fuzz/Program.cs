using MeZO.Fuzz;
using SharpFuzz;

// Usage: MeZO.Fuzz <target>, input on standard input. Under afl-fuzz, SharpFuzz's fork server feeds input after input to
// the same process; run by hand, it reads standard input once, so `MeZO.Fuzz <target> < crash` replays a finding and
// prints its exception.
if (args.Length != 1 || FuzzTargets.Find(args[0]) is not { } target)
{
    Console.Error.WriteLine("usage: MeZO.Fuzz <target> < input");
    foreach (FuzzTarget each in FuzzTargets.All) Console.Error.WriteLine($"  {each.Name,-12} {each.Description}");
    return 2;
}
using var scratch = new ScratchFolder();
Fuzzer.Run(stream =>
{
    var input = new MemoryStream();
    stream.CopyTo(input);
    // Says why an input was refused when replayed by hand; afl-fuzz discards the target's output.
    if (target.Run(input.ToArray(), scratch) is { } refusal) Console.Error.WriteLine(refusal);
});
return 0;
