using MeZO.Engine.Tensors;

namespace MeZO.Engine.Models;

/// <summary>
/// One buffer of a forward workspace: where it sits in the workspace's single allocation, and its shape for a call of
/// B sequences × T new tokens (N = B·T). <see cref="Dims"/> is that shape at the workspace's largest call, which sizes it.
/// </summary>
internal sealed record WorkspaceSlot(string Name, DType Type, MemoryCategory Category, Func<int, int, int[]> ShapeFor,
    int[] Dims, long Offset)
{
    public long Bytes => Dims.Aggregate((long)Type.SizeOf(), (a, d) => a * d);

    /// <summary>The bytes the slot holds in the block: its own, rounded up to the next slot's alignment.</summary>
    public long Extent => (Bytes + WorkspacePlan.Alignment - 1) / WorkspacePlan.Alignment * WorkspacePlan.Alignment;
}
