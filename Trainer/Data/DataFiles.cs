namespace MeZO.Trainer.Data;

/// <summary>Checks that a task's data folder and files exist before anything is read, with errors that say what was expected.</summary>
internal static class DataFiles
{
    /// <summary>
    /// The full path of <paramref name="fileName"/> inside <paramref name="dataDir"/>; throws when the folder or the file is
    /// missing. <paramref name="fileRole"/> says what the file holds ("the official validation split"),
    /// <paramref name="folderLayout"/> what the whole folder should hold ("train.jsonl and val.jsonl, SuperGLUE jsonl").
    /// </summary>
    public static string Require(string task, string dataDir, string fileName, string fileRole, string folderLayout)
    {
        string folder = Path.GetFullPath(dataDir);
        if (!Directory.Exists(folder))
            throw TaskDataException.MissingFolder(task, folder, folderLayout);
        string path = Path.Combine(folder, fileName);
        if (!File.Exists(path))
            throw TaskDataException.MissingFile(task, path, $"{fileRole}; the folder should hold {folderLayout}");
        return path;
    }
}
