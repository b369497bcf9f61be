using System.Text.Json;

namespace MeZO.Trainer.Runs;

/// <summary>metrics.jsonl: training loss, throughput and memory every few steps, and evaluation results.</summary>
public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";
    private readonly StreamWriter _writer;

    /// <summary>Opens for appending; a partial last line (a run killed while writing it) is dropped, so the next line starts clean.</summary>
    public MetricsLog(string runDirectory)
    {
        var stream = new FileStream(Path.Combine(runDirectory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            stream.SetLength(CompleteLinesLength(stream));
            stream.Seek(0, SeekOrigin.End);
            _writer = new StreamWriter(stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static long CompleteLinesLength(FileStream stream)
    {
        var one = new byte[1];
        for (long end = stream.Length; end > 0; end--)
        {
            stream.Position = end - 1;
            stream.ReadExactly(one);
            if (one[0] == (byte)'\n') return end;
        }
        return 0;
    }

    public void Write(IReadOnlyDictionary<string, object?> values)
    {
        _writer.WriteLine(JsonSerializer.Serialize(values));
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();

    /// <summary>Reads back (step, value) series for the plots; lines without the key are skipped.</summary>
    public static IReadOnlyList<(double Step, double Value)> Series(string runDirectory, string kind, string key)
    {
        string path = Path.Combine(runDirectory, FileName);
        var points = new List<(double, double)>();
        if (!File.Exists(path)) return points;
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0) continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException)
            {
                continue; // the partial last line of a killed run
            }
            using var _ = doc;
            var e = doc.RootElement;
            if (e.TryGetProperty("kind", out var k) && k.GetString() == kind &&
                e.TryGetProperty("step", out var s) && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number)
                points.Add((s.GetDouble(), v.GetDouble()));
        }
        return points;
    }
}
