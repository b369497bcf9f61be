using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// A writable copy of a model folder (a real one from shared/data, or one a test wrote) whose files a test damages the
/// way a user's might: raw bits written into one tensor's data, a tensor scaled, a config.json value changed. The
/// safetensors layout is located here from the format's definition (length prefix, JSON header, data offsets), not
/// by the engine's reader. Disposing deletes the copy.
/// </summary>
public sealed class CheckpointEditor : IDisposable
{
    private CheckpointEditor(string folder) => Folder = folder;

    public string Folder { get; }

    public string ConfigPath => Path.Combine(Folder, "config.json");

    public static CheckpointEditor CopyOf(string source)
    {
        string folder = Path.Combine(Path.GetTempPath(), "mezo-edited-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.EnumerateFiles(source))
        {
            string target = Path.Combine(folder, Path.GetFileName(file));
            File.Copy(file, target);
            File.SetAttributes(target, FileAttributes.Normal); // shared/data is read-only
        }
        return new CheckpointEditor(folder);
    }

    /// <summary>Writes <paramref name="bits"/> (2 or 4 bytes, as the tensor's dtype) over element <paramref name="element"/> of a tensor.</summary>
    public void WriteElementBits(string tensor, long element, uint bits)
    {
        var (path, dtype, start, end) = Locate(tensor);
        int size = dtype == "F32" ? 4 : 2;
        if (element < 0 || start + (element + 1) * size > end) throw new ArgumentOutOfRangeException(nameof(element));
        Span<byte> raw = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(raw, bits);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Position = start + element * size;
        stream.Write(raw[..size]);
    }

    /// <summary>Multiplies every element of a float32 tensor by <paramref name="factor"/> (in float32, so it may overflow).</summary>
    public void ScaleF32(string tensor, float factor)
    {
        var (path, dtype, start, end) = Locate(tensor);
        if (dtype != "F32") throw new ArgumentException($"{tensor} is {dtype}, not F32");
        byte[] file = File.ReadAllBytes(path);
        for (long at = start; at < end; at += 4)
        {
            var element = file.AsSpan((int)at, 4);
            BinaryPrimitives.WriteSingleLittleEndian(element, BinaryPrimitives.ReadSingleLittleEndian(element) * factor);
        }
        File.WriteAllBytes(path, file);
    }

    /// <summary>Sets (or, with null, removes) a top-level key of config.json; the value is written as raw JSON.</summary>
    public void SetConfig(string key, string? rawJson)
    {
        var config = JsonNode.Parse(File.ReadAllText(ConfigPath))!.AsObject();
        if (rawJson is null) config.Remove(key);
        else config[key] = JsonNode.Parse(rawJson);
        File.WriteAllText(ConfigPath, config.ToJsonString());
    }

    /// <summary>The file that holds a tensor, its dtype and its absolute byte range in that file.</summary>
    private (string Path, string DType, long Start, long End) Locate(string tensor)
    {
        foreach (string path in Directory.EnumerateFiles(Folder, "*.safetensors"))
        {
            using var stream = File.OpenRead(path);
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            var header = new byte[headerLength];
            stream.ReadExactly(header);
            using var json = JsonDocument.Parse(Encoding.UTF8.GetString(header));
            if (!json.RootElement.TryGetProperty(tensor, out var entry)) continue;
            var offsets = entry.GetProperty("data_offsets");
            long dataStart = 8 + headerLength;
            return (path, entry.GetProperty("dtype").GetString()!, dataStart + offsets[0].GetInt64(), dataStart + offsets[1].GetInt64());
        }
        throw new ArgumentException($"no tensor '{tensor}' in {Folder}");
    }

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}
