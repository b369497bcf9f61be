using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

public class TaskRegistryTests
{
    private static readonly string[] PaperTasks = ["sst2", "rte", "cb", "boolq", "wsc", "wic", "multirc", "copa", "record", "squad", "drop"];
    private static readonly string[] AllTasks = [.. PaperTasks, "jsonl"];

    [Test]
    public void EveryTaskIsRegisteredUnderItsName()
    {
        Assert.That(TaskRegistry.Names, Is.EqualTo(AllTasks), "the paper's tasks in its order, then the user's own data");
        foreach (string name in AllTasks)
            Assert.That(TaskRegistry.Get(name).Name, Is.EqualTo(name));
        Assert.That(TaskRegistry.Get("SST2").Name, Is.EqualTo("sst2"));
    }

    [Test]
    public void UnknownTaskListsTheValidNames()
    {
        var error = Assert.Throws<MeZO.Engine.InvalidInputException>(() => TaskRegistry.Get("mnli"))!;
        Assert.That(error.Message, Does.Contain("'mnli'").And.Contain(string.Join(", ", AllTasks)));
        Assert.That(error.Message, Does.Not.Contain("\n"));
    }
}
