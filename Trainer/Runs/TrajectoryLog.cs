using System.Globalization;
using System.Text;
using System.Text.Json;
using MeZO.Engine;
using MeZO.Trainer.Optimizer;

namespace MeZO.Trainer.Runs;

/// <summary>
/// trajectory.jsonl: one line per step and sample, {"step", "sample", "seed", "seed_str", "projected_grad", "lr", "eps",
/// "loss_plus", "loss_minus"} (DESIGN §4). Each line reaches the operating system before its update is applied, so
/// a killed run never has weights ahead of its trajectory. Doubles are written in their shortest round-trip form:
/// replay reads back exactly the values the run used. The seed, a 64-bit unsigned integer, is also written as a decimal
/// string (seed_str): JavaScript's JSON.parse and other double-based readers round integers above 2⁵³.
/// </summary>
public sealed class TrajectoryLog : IDisposable
{
    public const string FileName = "trajectory.jsonl";
    private readonly FileStream _stream;

    private TrajectoryLog(FileStream stream) => _stream = stream;

    /// <summary>Opens for appending after truncating to <paramref name="keepBytes"/> (dropping a partial last line).</summary>
    public static TrajectoryLog OpenForAppend(string runDirectory, long keepBytes)
    {
        var stream = new FileStream(Path.Combine(runDirectory, FileName), FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        stream.SetLength(keepBytes);
        stream.Seek(0, SeekOrigin.End);
        return new TrajectoryLog(stream);
    }

    public void Append(StepRecord r)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("step", r.Step);
            json.WriteNumber("sample", r.Sample);
            json.WriteNumber("seed", r.Seed);
            json.WriteString("seed_str", r.Seed.ToString(CultureInfo.InvariantCulture));
            json.WriteNumber("projected_grad", r.ProjectedGradient);
            json.WriteNumber("lr", r.LearningRate);
            json.WriteNumber("eps", r.Eps);
            json.WriteNumber("loss_plus", r.LossPlus);
            json.WriteNumber("loss_minus", r.LossMinus);
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        _stream.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
        _stream.Flush();
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// The complete lines of a trajectory and the byte length they occupy; a partial last line (a run killed while
    /// writing it) is ignored. A malformed complete line is an error naming its line number.
    /// </summary>
    public static (IReadOnlyList<StepRecord> Records, long Bytes) Read(string path)
    {
        var (records, ends) = ReadLines(path);
        return (records, ends.Count > 0 ? ends[^1] : 0);
    }

    /// <summary>The complete lines, as <see cref="Read"/> has them, with the byte offset just past each.</summary>
    public static (IReadOnlyList<StepRecord> Records, IReadOnlyList<long> Ends) ReadLines(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: missing");
        byte[] bytes = File.ReadAllBytes(path);
        var records = new List<StepRecord>();
        var ends = new List<long>();
        int start = 0, line = 0;
        while (true)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            if (end < 0) break;
            line++;
            records.Add(Parse(bytes.AsSpan(start, end - start), path, line));
            start = end + 1;
            ends.Add(start);
        }
        return (records, ends);
    }

    private static StepRecord Parse(ReadOnlySpan<byte> text, string path, int line)
    {
        try
        {
            using var doc = JsonDocument.Parse(text.ToArray());
            var e = doc.RootElement;
            ulong seed = e.GetProperty("seed").GetUInt64();
            // Trajectories written before seed_str have none; one that disagrees with the integer is a damaged line.
            if (e.TryGetProperty("seed_str", out var seedText) && seedText.GetString() != seed.ToString(CultureInfo.InvariantCulture))
                throw new FormatException("seed_str differs from seed");
            return new StepRecord(
                e.GetProperty("step").GetInt64(),
                e.GetProperty("sample").GetInt32(),
                seed,
                e.GetProperty("projected_grad").GetDouble(),
                e.GetProperty("lr").GetDouble(),
                e.GetProperty("eps").GetDouble(),
                e.GetProperty("loss_plus").GetDouble(),
                e.GetProperty("loss_minus").GetDouble());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            string shown = Encoding.UTF8.GetString(text);
            throw new InvalidInputException(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{line}: not a trajectory line ({(shown.Length > 60 ? shown[..60] + "…" : shown)})"));
        }
    }
}
