using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// The SuperGLUE distribution's layout, which the Hugging Face super_glue loader (and so MeZO) reads: one folder per task
/// with train.jsonl and val.jsonl (the official validation split, reported as test by the paper), one JSON object per line.
/// </summary>
internal static class SuperGlueFiles
{
    public const string Layout = "train.jsonl (the training split) and val.jsonl (the official validation split), SuperGLUE jsonl";

    public static List<TaskExample> Load(string task, DataFolder data, bool train, Action<JsonRecord, List<TaskExample>> read)
    {
        string path = train
            ? data.Require(task, "train.jsonl", "the SuperGLUE training split as jsonl", Layout)
            : data.Require(task, "val.jsonl", "the official SuperGLUE validation split as jsonl", Layout);
        var examples = new List<TaskExample>();
        JsonFiles.ForEachLine(path, record => read(record, examples));
        return examples;
    }

    /// <summary>SuperGLUE's idx of a line, as the example id.</summary>
    public static string Id(JsonRecord record) => record.Integer("idx").ToString(System.Globalization.CultureInfo.InvariantCulture);
}
