using MeZO.Engine.Backends;


namespace MeZO.Verification;

/// <summary>
/// One op on one input, run on the reference backend and on the candidate: the largest error and the tolerance it was
/// held to at that element (tolerances scale with the values and the dtype; each is explained where it is defined).
/// </summary>
public sealed record ParityResult(string Operation, string Case, bool Passed, double MaxError, double Tolerance, string Detail)
{
    public override string ToString() =>
        $"{(Passed ? "ok  " : "FAIL")} {Operation,-17} {Case,-44} max error {MaxError:E2} (tolerance {Tolerance:E2}){(Detail.Length > 0 ? "  " + Detail : "")}";
}

/// <summary>One parity check: the IBackend op it covers, a name for its input, and how to run it on two backends.</summary>
public sealed record ParityCase(string Operation, string Name, Func<IBackend, IBackend, ParityResult> Run);
