using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// One of the MeZO paper's tasks, or the user's own data: where its files are, how they parse, and how an example is cast as a prompt and
/// candidates (princeton-nlp/MeZO, large_models/tasks.py and templates.py). Get one with <see cref="TaskRegistry.Get"/>.
/// </summary>
public interface ITask
{
    /// <summary>The registry name: sst2, rte, cb, boolq, wsc, wic, multirc, copa, record, squad, drop, jsonl.</summary>
    string Name { get; }

    TaskKind Kind { get; }

    /// <summary>The files the data folder must hold, for help texts and errors.</summary>
    string DataLayout { get; }

    /// <summary>The official training split, in file order; train and validation examples are sampled from it.</summary>
    IReadOnlyList<TaskExample> LoadTrain(DataFolder data);

    /// <summary>
    /// A validation split of its own, in file order, or null when the task has none and validation is sampled from the
    /// training split (every paper task: MeZO draws both from the official training split).
    /// </summary>
    IReadOnlyList<TaskExample>? LoadValidation(DataFolder data) => null;

    /// <summary>The official validation split (the paper reports it as test), in file order.</summary>
    IReadOnlyList<TaskExample> LoadTest(DataFolder data);

    /// <summary>The example as MeZO's template casts it. Only examples this task loaded can be rendered.</summary>
    PromptedExample Render(TaskExample example);
}
