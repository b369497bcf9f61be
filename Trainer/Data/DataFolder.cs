using System.Buffers;
using System.Security.Cryptography;
using System.Text.Unicode;

namespace MeZO.Trainer.Data;

/// <summary>
/// A task's data folder, and the files read from it. Each file is checked once as it is first required: it exists, it
/// is valid UTF-8 (a bad byte is reported with its line, where a decoder would silently put U+FFFD in the text), and
/// its SHA-256 is taken in the same pass, so a run can record exactly the data it was trained on and a resume can
/// refuse data that changed.
/// </summary>
public sealed class DataFolder(string directory)
{
    private readonly SortedDictionary<string, string> _filesRead = new(StringComparer.Ordinal);

    public string Directory { get; } = Path.GetFullPath(directory);

    /// <summary>SHA-256 (lower-case hex) of each file read so far, by its name inside the folder.</summary>
    public IReadOnlyDictionary<string, string> FilesRead => _filesRead;

    /// <summary>Whether the folder holds <paramref name="fileName"/> (for data that may come in one of several formats).</summary>
    public bool Has(string fileName) => File.Exists(Path.Combine(Directory, fileName));

    /// <summary>
    /// The full path of <paramref name="fileName"/>; throws when the folder or the file is missing or a text file is not
    /// UTF-8. <paramref name="fileRole"/> says what the file holds ("the official validation split"),
    /// <paramref name="folderLayout"/> what the whole folder should hold ("train.jsonl and val.jsonl, SuperGLUE jsonl").
    /// A binary file (<paramref name="text"/> false: Parquet) is hashed as it is; its reader checks its strings.
    /// </summary>
    public string Require(string task, string fileName, string fileRole, string folderLayout, bool text = true)
    {
        if (!System.IO.Directory.Exists(Directory))
            throw TaskDataException.MissingFolder(task, Directory, folderLayout);
        string path = Path.Combine(Directory, fileName);
        if (!File.Exists(path))
            throw TaskDataException.MissingFile(task, path, $"{fileRole}; the folder should hold {folderLayout}");
        if (!_filesRead.ContainsKey(fileName)) _filesRead[fileName] = text ? HashCheckingUtf8(path) : Hash(path);
        return path;
    }

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The file's SHA-256; streams it, validating UTF-8 block by block (a sequence may straddle two blocks).</summary>
    private static string HashCheckingUtf8(string path)
    {
        const int BlockBytes = 1 << 20;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(BlockBytes + 4);
        char[] chars = ArrayPool<char>.Shared.Rent(BlockBytes + 4);
        try
        {
            int carried = 0, line = 1;
            while (true)
            {
                int read = stream.Read(bytes, carried, BlockBytes);
                hash.AppendData(bytes, carried, read);
                int length = carried + read;
                var status = Utf8.ToUtf16(bytes.AsSpan(0, length), chars, out int consumed, out _,
                    replaceInvalidSequences: false, isFinalBlock: read == 0);
                line += bytes.AsSpan(0, consumed).Count((byte)'\n');
                if (status == OperationStatus.InvalidData)
                    throw TaskDataException.Malformed($"{path}:{line}",
                        $"not valid UTF-8 (byte 0x{bytes[consumed]:X2}); save the file as UTF-8");
                carried = length - consumed;
                bytes.AsSpan(consumed, carried).CopyTo(bytes);
                if (read == 0) return Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
