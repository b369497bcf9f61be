namespace MeZO.Trainer.Tasks;

/// <summary>The tasks of the MeZO paper by their command-line names.</summary>
public static class TaskRegistry
{
    private static readonly ITask[] All =
    [
        new Sst2Task(), new RteTask(), new CbTask(), new BoolQTask(), new WscTask(), new WicTask(), new MultiRcTask(),
        new CopaTask(), new RecordTask(), new SquadTask(), new DropTask(),
    ];

    /// <summary>sst2 rte cb boolq wsc wic multirc copa record squad drop, in the paper's order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(task => task.Name)];

    /// <summary>The task called <paramref name="name"/> (case-insensitive); an unknown name throws, listing the valid ones.</summary>
    public static ITask Get(string name) =>
        All.FirstOrDefault(task => string.Equals(task.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new MeZO.Engine.InvalidInputException($"unknown task '{name}'; the tasks are: {string.Join(", ", Names)}");
}
