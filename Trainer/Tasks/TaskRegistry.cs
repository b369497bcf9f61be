using MeZO.Trainer.Tasks.OwnData;

namespace MeZO.Trainer.Tasks;

/// <summary>The tasks of the MeZO paper, and jsonl for the user's own data, by their command-line names.</summary>
public static class TaskRegistry
{
    // Factories, not instances: the jsonl task learns its kind from the data it reads, so each caller gets its own.
    private static readonly Func<ITask>[] All =
    [
        () => new Sst2Task(), () => new RteTask(), () => new CbTask(), () => new BoolQTask(), () => new WscTask(),
        () => new WicTask(), () => new MultiRcTask(), () => new CopaTask(), () => new RecordTask(), () => new SquadTask(),
        () => new DropTask(), () => new JsonlTask(),
    ];

    /// <summary>sst2 rte cb boolq wsc wic multirc copa record squad drop, in the paper's order, then jsonl.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(create => create().Name)];

    /// <summary>A new instance of the task called <paramref name="name"/> (case-insensitive); an unknown name throws,
    /// listing the valid ones.</summary>
    public static ITask Get(string name)
    {
        int index = Names.ToList().FindIndex(known => string.Equals(known, name?.Trim(), StringComparison.OrdinalIgnoreCase));
        return index >= 0
            ? All[index]()
            : throw new MeZO.Engine.InvalidInputException($"unknown task '{name}'; the tasks are: {string.Join(", ", Names)}");
    }
}
