using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks.OwnData;

/// <summary>
/// The kind of a dataset of the jsonl task, set by the first record read (of whichever split is read first) and then
/// required of every other record of every split: a dataset of mixed kinds would have no single way to be scored.
/// </summary>
internal sealed class RecordKind
{
    private string? _setBy;

    /// <summary>The kind, or null before any record was read.</summary>
    public TaskKind? Kind { get; private set; }

    /// <summary>Takes <paramref name="kind"/> as the dataset's kind if it has none yet, else requires it to match.</summary>
    public void Require(TaskKind kind, string where)
    {
        if (Kind is null)
        {
            (Kind, _setBy) = (kind, where);
            return;
        }
        if (Kind != kind)
            throw TaskDataException.Malformed(where,
                $"a {RecordFields.Describe(kind)} record in a dataset of {RecordFields.Describe(Kind.Value)} records " +
                $"(the kind is set by the first record, {_setBy}); one dataset holds one kind in all its files");
    }
}
