using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// Every <see cref="CpuBackend"/> op against a naive double-precision loop written in the test (one partial file per op
/// family), on awkward shapes. Weights are rounded to their storage dtype before upload, and the reference reads the
/// same rounded values, so a tolerance only has to cover the float32 arithmetic of the op itself.
/// </summary>
[TestFixture]
public sealed partial class CpuOpsTests : CpuTensorTests
{
    /// <summary>Shapes that break vector widths (1, 3, 17) and cross several 16-lane vectors with a tail (129).</summary>
    private static readonly int[] AwkwardLengths = [1, 3, 17, 129];
}
