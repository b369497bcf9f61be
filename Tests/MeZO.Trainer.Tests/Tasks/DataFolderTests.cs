using System.Security.Cryptography;
using System.Text;
using MeZO.Trainer.Data;
using MeZO.Trainer.Tasks;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Tasks;

/// <summary>
/// Task files must be UTF-8, reported by file and line where they are not (a decoder would put U+FFFD into the prompt
/// without a word); the files read are recorded with their SHA-256 for run.json.
/// </summary>
public class DataFolderTests
{
    private const string Header = "sentence\tlabel\n";

    [TestCase(new byte[] { 0xFF }, TestName = "InvalidUtf8ByteNeverInUtf8")]
    [TestCase(new byte[] { 0xC3, 0x28 }, TestName = "InvalidUtf8BadContinuation")]
    [TestCase(new byte[] { 0xE9, 0x20 }, TestName = "InvalidUtf8Latin1Accent")]
    [TestCase(new byte[] { 0xED, 0xA0, 0x80 }, TestName = "InvalidUtf8EncodedSurrogate")]
    public void InvalidUtf8IsNamedByFileAndLine(byte[] bad)
    {
        using var folder = new TemporaryFolder();
        byte[] content = [.. Encoding.UTF8.GetBytes(Header + "good film\t1\nfine\t1\nca"), .. bad, .. Encoding.UTF8.GetBytes("fe\t0\nlast\t1\n")];
        string path = Path.Combine(folder.Path, "train.tsv");
        File.WriteAllBytes(path, content);

        var error = Assert.Throws<TaskDataException>(() => new DataFolder(folder.Path).Require("sst2", "train.tsv", "train", "train.tsv"))!;
        Assert.That(error.Message, Does.StartWith($"{path}:4: not valid UTF-8 (byte 0x{bad[0]:X2})"));
    }

    [Test]
    public void ATruncatedSequenceAtTheEndOfTheFileIsInvalid()
    {
        using var folder = new TemporaryFolder();
        string path = Path.Combine(folder.Path, "train.tsv");
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetBytes(Header + "a\t1\n\u00e9"), 0xE2, 0x82]);
        var error = Assert.Throws<TaskDataException>(() => new DataFolder(folder.Path).Require("sst2", "train.tsv", "train", "train.tsv"))!;
        Assert.That(error.Message, Does.StartWith($"{path}:3: not valid UTF-8 (byte 0xE2)"));
    }

    /// <summary>
    /// Files are read in blocks of 1 MiB: a character split across two blocks is valid, and a bad byte past the first
    /// block is counted to its line. The hash is checked against one computed over the whole file at once.
    /// </summary>
    [Test]
    public void BlocksJoinAcrossCharactersAndLinesAreCountedPastTheFirstBlock()
    {
        using var folder = new TemporaryFolder();
        const int Block = 1 << 20;
        var text = new StringBuilder(Header);
        int lines = 1, bytes = Header.Length;
        void Line(string line)
        {
            text.Append(line);
            bytes += Encoding.UTF8.GetByteCount(line);
            lines++;
        }
        while (bytes < Block - 100) Line($"caf\u00e9 \u20ac{lines} r\u00e9sum\u00e9\t1\n");
        // A four-byte character whose first two bytes end the first block.
        Line(new string('a', Block - 2 - bytes) + "\U0001F600\t1\n");
        while (bytes < Block + 100_000) Line($"caf\u00e9 \u20ac{lines} \U0001F600\t1\n");
        string path = folder.Write("train.tsv", text.ToString());
        var data = new DataFolder(folder.Path);
        data.Require("sst2", "train.tsv", "train", "train.tsv");
        Assert.That(data.FilesRead["train.tsv"], Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))));

        File.AppendAllText(path, "ok\t1\n");
        using (var stream = new FileStream(path, FileMode.Append)) stream.Write([0x80, (byte)'\n']);
        var error = Assert.Throws<TaskDataException>(() => new DataFolder(folder.Path).Require("sst2", "train.tsv", "train", "train.tsv"))!;
        Assert.That(error.Message, Does.StartWith($"{path}:{lines + 2}: not valid UTF-8 (byte 0x80)"));
    }

    [Test]
    public void SamplingRecordsEveryFileReadWithItsHash()
    {
        using var folder = new TemporaryFolder();
        foreach (string name in new[] { "train.tsv", "dev.tsv", "test.tsv" })
            folder.Write(name, Header + string.Concat(Enumerable.Range(0, 8).Select(i => $"{name} {i}\t{i % 2}\n")));
        var splits = DatasetSplits.Sample(TaskRegistry.Get("sst2"), folder.Path, 6, 2, 0, seed: 1);
        Assert.That(splits.Files.Keys, Is.EquivalentTo(new[] { "train.tsv", "dev.tsv" }), "test.tsv is not read when no test set is asked");
        foreach (var (name, sha) in splits.Files)
            Assert.That(sha, Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder.Path, name))))));
    }
}
