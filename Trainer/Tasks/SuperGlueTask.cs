using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// A SuperGLUE task read from its jsonl files (<see cref="SuperGlueFiles"/>): each task says only how a record becomes
/// examples and how an example is cast by its template.
/// </summary>
internal abstract class SuperGlueTask : ITask
{
    public abstract string Name { get; }

    public abstract TaskKind Kind { get; }

    public string DataLayout => SuperGlueFiles.Layout;

    public IReadOnlyList<TaskExample> LoadTrain(DataFolder data) => SuperGlueFiles.Load(Name, data, train: true, Read);

    public IReadOnlyList<TaskExample> LoadTest(DataFolder data) => SuperGlueFiles.Load(Name, data, train: false, Read);

    public abstract PromptedExample Render(TaskExample example);

    /// <summary>Adds the examples of one jsonl record (MultiRC and ReCoRD make several from one).</summary>
    protected abstract void Read(JsonRecord record, List<TaskExample> examples);
}
