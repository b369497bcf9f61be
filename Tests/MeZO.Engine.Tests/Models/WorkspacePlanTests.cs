using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tests.Backends;
using MeZO.Engine.Tests.Reference;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// A forward workspace is one allocation carved by its plan: slots aligned and disjoint, and the backend's memory
/// report counting the block under its slots' categories, as separate buffers would have been counted.
/// </summary>
[TestFixture]
public sealed class WorkspacePlanTests
{
    private static IEnumerable<TestCaseData> Workspaces()
    {
        foreach (var variant in TinyCheckpoints.AllVariants)
        {
            yield return new TestCaseData(variant, 3, 7, 0, false, DType.F32).SetName($"{variant}, scoring");
            yield return new TestCaseData(variant, 2, 5, 11, false, DType.F32).SetName($"{variant}, with a KV cache");
            yield return new TestCaseData(variant, 3, 7, 0, true, DType.F32).SetName($"{variant}, lockstep partner");
            yield return new TestCaseData(variant, 2, 5, 11, false, DType.BF16).SetName($"{variant}, bf16 activations with a KV cache");
        }
    }

    [TestCaseSource(nameof(Workspaces))]
    public void SlotsAreAlignedAndDisjoint(TinyVariant variant, int batch, int length, int cache, bool partner, DType activations)
    {
        var plan = WorkspacePlan.For(Spec(variant), batch, length, cache, activations, partner);

        long end = 0;
        foreach (var slot in plan.Slots.OrderBy(s => s.Offset))
        {
            Assert.That(slot.Offset % WorkspacePlan.Alignment, Is.Zero, slot.Name);
            Assert.That(slot.Offset, Is.GreaterThanOrEqualTo(end), $"{slot.Name} overlaps the slot before it");
            Assert.That(slot.Bytes, Is.Positive, slot.Name);
            end = slot.Offset + slot.Bytes;
        }
        Assert.That(end, Is.LessThanOrEqualTo(plan.Bytes));
        Assert.That(plan.Slots.Select(s => s.Name), Is.Unique);
    }

    [TestCaseSource(nameof(Workspaces))]
    public void OneAllocationReportedBySlotCategory(TinyVariant variant, int batch, int length, int cache, bool partner, DType activations)
    {
        var spec = Spec(variant);
        var plan = WorkspacePlan.For(spec, batch, length, cache, activations, partner);
        using var cpu = new CpuBackend();
        var (backend, counter) = AllocationCounter.Wrap(cpu);

        using (var ws = new ForwardWorkspace(spec, backend, batch, length, cache, activations, partner))
        {
            Assert.That(counter.Allocations, Is.EqualTo(1));
            Assert.That(ws.Bytes, Is.EqualTo(plan.Bytes));
            foreach (var category in Enum.GetValues<MemoryCategory>())
            {
                long planned = plan.Slots.Where(s => s.Category == category).Sum(s => s.Extent);
                Assert.That(cpu.Memory.Current(category), Is.EqualTo(planned), category.ToString());
                Assert.That(cpu.Memory.Peak(category), Is.EqualTo(planned), category.ToString());
            }
            Assert.That(cpu.Memory.Current(MemoryCategory.Workspace), Is.Positive, "the logits and perturbed scratch are workspace");
            Assert.That(cpu.Memory.PeakTotal, Is.EqualTo(plan.Bytes));
            Assert.That(ws.LogitRows, Is.EqualTo(partner ? 1 : plan.Find("logits")!.Dims[0]));
        }
        foreach (var category in Enum.GetValues<MemoryCategory>())
            Assert.That(cpu.Memory.Current(category), Is.Zero, $"{category} after disposal");
    }

    private static ArchitectureSpec Spec(TinyVariant variant)
    {
        using var checkpoint = TinyCheckpoints.Create(variant);
        return ModelConfigReader.Read(checkpoint.Folder);
    }
}
