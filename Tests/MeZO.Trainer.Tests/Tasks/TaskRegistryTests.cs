using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

public class TaskRegistryTests
{
    private static readonly string[] PaperTasks = ["sst2", "rte", "cb", "boolq", "wsc", "wic", "multirc", "copa", "record", "squad", "drop"];

    [Test]
    public void EveryPaperTaskIsRegisteredUnderItsName()
    {
        Assert.That(TaskRegistry.Names, Is.EqualTo(PaperTasks));
        foreach (string name in PaperTasks)
            Assert.That(TaskRegistry.Get(name).Name, Is.EqualTo(name));
        Assert.That(TaskRegistry.Get("SST2").Name, Is.EqualTo("sst2"));
    }

    [Test]
    public void UnknownTaskListsTheValidNames()
    {
        var error = Assert.Throws<MeZO.Engine.InvalidInputException>(() => TaskRegistry.Get("mnli"))!;
        Assert.That(error.Message, Does.Contain("'mnli'").And.Contain(string.Join(", ", PaperTasks)));
        Assert.That(error.Message, Does.Not.Contain("\n"));
    }
}
