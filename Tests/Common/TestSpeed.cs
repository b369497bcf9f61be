namespace MeZO.Tests.Common;

/// <summary>
/// The test category of what takes minutes on two cores: learning runs, the kernels emulated on the host, real
/// processes killed and resumed. `build.ps1 test` runs everything (CI); `build.ps1 test-fast` leaves these out.
/// </summary>
public static class TestSpeed
{
    public const string Slow = "Slow";
}
