using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks.OwnData;

/// <summary>
/// The user's own data (`--task jsonl --data DIR`): records of one of three kinds, as .jsonl or .parquet files.
/// Classification records are rendered as the built-in tasks' templates are (<see cref="TemplateOutput"/>: the prompt,
/// then each candidate appended as written), so a file that writes SST-2's prompt and verbalizer scores exactly as
/// sst2 does. A completion record is a generation example whose one gold answer is its completion; a text record is
/// plain language modelling. The kind is the first record's (<see cref="RecordKind"/>); an instance holds it, so
/// <see cref="TaskRegistry.Get"/> gives each caller a fresh one.
/// </summary>
internal sealed class JsonlTask : ITask
{
    private readonly RecordKind _kind = new();

    public string Name => "jsonl";

    /// <exception cref="TaskDataException">no record has been read yet, so the kind is not known.</exception>
    public TaskKind Kind => _kind.Kind
        ?? throw new TaskDataException("jsonl: no data file has been read, so the kind of its records is not known yet");

    public string DataLayout =>
        "train.jsonl, optionally validation.jsonl, and test.jsonl (or .parquet files with the same columns), one record " +
        $"per line (row), all of one kind: {RecordFields.Kinds}; without validation.jsonl the validation examples are " +
        "sampled from train.jsonl";

    public IReadOnlyList<TaskExample> LoadTrain(DataFolder data) => Load(data, "train", "the training split", required: true)!;

    public IReadOnlyList<TaskExample>? LoadValidation(DataFolder data) => Load(data, "validation", "the validation split", required: false);

    public IReadOnlyList<TaskExample> LoadTest(DataFolder data) => Load(data, "test", "the test split", required: true)!;

    public PromptedExample Render(TaskExample example)
    {
        // The candidates are texts of their own: MeZO's templates return prompt + candidate as the verbalized text.
        switch (Kind)
        {
            case TaskKind.Classification:
                string prompt = example.Field(RecordFields.Prompt);
                IReadOnlyList<string> candidates = example.List(RecordFields.Candidates);
                int label = example.RequireLabel();
                return TemplateOutput.Build(example, prompt, [.. candidates.Select(candidate => prompt + candidate)], label, [candidates[label]]);
            case TaskKind.Generation:
                string question = example.Field(RecordFields.Prompt), completion = example.Field(RecordFields.Completion);
                return TemplateOutput.Build(example, question, [question + completion], 0, [completion]);
            default:
                // No template cleaning: the text is the whole sequence, scored from its second token on (PromptEncoder.EncodeText).
                return new PromptedExample(example.Id, "", [example.Field(RecordFields.Text)], 0, []);
        }
    }

    /// <summary>The split's records from split.jsonl or split.parquet; when the folder holds neither, null if the split is
    /// optional, else the folder's missing-file error.</summary>
    private List<TaskExample>? Load(DataFolder data, string split, string role, bool required)
    {
        string jsonl = split + ".jsonl", parquet = split + ".parquet";
        bool hasJsonl = data.Has(jsonl), hasParquet = data.Has(parquet);
        if (hasJsonl && hasParquet)
            throw new TaskDataException(
                $"{Name}: {Path.Combine(data.Directory, split)}: both {jsonl} and {parquet} are present; keep one of them for {role}");
        if (hasParquet) return ParquetRecords.Read(data.Require(Name, parquet, role, DataLayout, text: false), _kind);
        if (!hasJsonl && !required) return null;
        return JsonlRecords.Read(data.Require(Name, jsonl, $"{role} as {jsonl} or {parquet}", DataLayout), _kind);
    }
}
