using System.Text;
using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;

namespace MeZO.Fuzz;

/// <summary>
/// The input's first line names a task (sst2, rte, …, squad, drop, jsonl); the rest is written as every data file the tasks
/// read, so both splits load from it. Each loaded example is then rendered by the task's template: a file the reader
/// accepts must give examples the rest of training can use. An unknown task name is not an input of this target.
/// </summary>
public static class TaskFileTarget
{
    // Every file name of every task's folder layout (ITask.DataLayout); a task reads the ones it knows.
    private static readonly string[] DataFiles =
    [
        "train.jsonl", "val.jsonl", "train.tsv", "dev.tsv", "test.tsv", "train-v1.1.json", "dev-v1.1.json",
        "drop_dataset_train.json", "drop_dataset_dev.json", "test.jsonl",
    ];

    public static void Read(byte[] input, ScratchFolder scratch)
    {
        int newline = Array.IndexOf(input, (byte)'\n');
        if (newline < 0) return;
        string name = Encoding.UTF8.GetString(input, 0, newline);
        if (!TaskRegistry.Names.Contains(name)) return;
        ITask task = TaskRegistry.Get(name);
        ReadOnlySpan<byte> content = input.AsSpan(newline + 1);
        foreach (string file in DataFiles) scratch.Write(file, content);
        var data = new DataFolder(scratch.Path);
        foreach (TaskExample example in task.LoadTrain(data).Concat(task.LoadTest(data)))
            task.Render(example);
    }
}
