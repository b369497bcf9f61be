using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// The layout of a safetensors file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
/// section. Parses and validates the whole header: every entry, every range against the data section and against
/// every other range, before anything reads a tensor byte.
/// </summary>
internal static class SafetensorsHeader
{
    public const int LengthPrefixBytes = 8;

    /// <summary>A larger header is not a checkpoint (real ones are a few hundred KB); refuse it before allocating.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public sealed record Parsed(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata);

    /// <summary>Checks the length prefix against the file size and returns the header length.</summary>
    public static long ReadHeaderLength(string path, ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (fileLength == 0)
            throw new CheckpointFormatException(path, null, "the file is empty; expected a safetensors file");
        if (fileLength < LengthPrefixBytes)
            throw new CheckpointFormatException(path, null,
                $"the file is {fileLength} bytes, too short for the 8-byte safetensors header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw new CheckpointFormatException(path, null,
                $"header length {headerLength} is absurd (more than {MaxHeaderBytes} bytes); this is not a safetensors file");
        if ((long)headerLength > fileLength - LengthPrefixBytes)
            throw new CheckpointFormatException(path, null,
                $"header length {headerLength} exceeds the {fileLength - LengthPrefixBytes} bytes after the length prefix (truncated file?)");
        return (long)headerLength;
    }

    public static Parsed Parse(string path, ReadOnlyMemory<byte> json, long dataSectionLength)
    {
        if (!Utf8.IsValid(json.Span))
            throw new CheckpointFormatException(path, null, "the header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"the header is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (JsonText.Problem(root) is { } notText)
                throw new CheckpointFormatException(path, null, $"in the header, {notText}");
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, null, $"the header is a JSON {Describe(root.ValueKind)}, not an object");

            var entries = new List<SafetensorsEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>();
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata)
                        throw new CheckpointFormatException(path, null, $"'{MetadataKey}' appears twice in the header");
                    sawMetadata = true;
                    metadata = ParseMetadata(path, property.Value);
                    continue;
                }
                if (!names.Add(property.Name))
                    throw new CheckpointFormatException(path, property.Name, "appears twice in the header");
                entries.Add(ParseEntry(path, property.Name, property.Value, dataSectionLength));
            }
            entries.Sort(ByDataRange);
            CheckNoOverlap(path, entries);
            return new Parsed(entries, metadata);
        }
    }

    /// <summary>The product of the dimensions, or -1 when it overflows a long.</summary>
    public static long ElementCount(long[] shape)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim != 0 && count > long.MaxValue / dim) return -1;
            count *= dim;
        }
        return count;
    }

    private static IReadOnlyDictionary<string, string> ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, null,
                $"'{MetadataKey}' is a JSON {Describe(value.ValueKind)}; it must be an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointFormatException(path, null,
                    $"'{MetadataKey}' value of '{item.Name}' is a JSON {Describe(item.Value.ValueKind)}; metadata values must be strings");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new CheckpointFormatException(path, null, $"'{MetadataKey}' key '{item.Name}' appears twice");
        }
        return metadata;
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value, long dataSectionLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, name, $"the header entry is a JSON {Describe(value.ValueKind)}, not an object");

        if (!value.TryGetProperty("dtype", out var dtypeElement))
            throw new CheckpointFormatException(path, name, "the header entry has no 'dtype'");
        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(path, name, $"'dtype' is a JSON {Describe(dtypeElement.ValueKind)}, not a string");
        string dtypeName = dtypeElement.GetString()!;
        if (!DTypeInfo.TryParseSafetensorsName(dtypeName, out var dtype))
            throw new CheckpointFormatException(path, name,
                $"dtype '{dtypeName}' is not supported (supported: F32, F16, BF16, I32, I64)");

        if (!value.TryGetProperty("shape", out var shapeElement))
            throw new CheckpointFormatException(path, name, "the header entry has no 'shape'");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException(path, name, $"'shape' is a JSON {Describe(shapeElement.ValueKind)}, not an array");
        var shape = new long[shapeElement.GetArrayLength()];
        int axis = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (!TryGetNonNegativeInteger(dim, out shape[axis]))
                throw new CheckpointFormatException(path, name,
                    $"shape dimension {axis} is {dim.GetRawText()}; dimensions must be non-negative integers");
            axis++;
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement))
            throw new CheckpointFormatException(path, name, "the header entry has no 'data_offsets'");
        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2
            || !TryGetNonNegativeInteger(offsetsElement[0], out long start)
            || !TryGetNonNegativeInteger(offsetsElement[1], out long end))
            throw new CheckpointFormatException(path, name,
                $"data_offsets is {offsetsElement.GetRawText()}; it must be two non-negative integers [start, end]");
        if (end < start)
            throw new CheckpointFormatException(path, name, $"data_offsets [{start}, {end}] end before they start");
        if (end > dataSectionLength)
            throw new CheckpointFormatException(path, name,
                $"data_offsets [{start}, {end}] reach past the end of the {dataSectionLength}-byte data section (truncated file?)");

        long elements = ElementCount(shape);
        long expectedBytes = elements < 0 || elements > long.MaxValue / dtype.SizeOf() ? -1 : elements * dtype.SizeOf();
        if (expectedBytes < 0)
            throw new CheckpointFormatException(path, name, $"shape ({string.Join(", ", shape)}) is too large to address");
        if (expectedBytes != end - start)
            throw new CheckpointFormatException(path, name,
                $"shape ({string.Join(", ", shape)}) of {dtypeName} needs {expectedBytes} bytes but data_offsets [{start}, {end}] hold {end - start}");

        return new SafetensorsEntry(name, dtype, shape, start, end);
    }

    private static int ByDataRange(SafetensorsEntry a, SafetensorsEntry b)
    {
        int order = a.DataStart.CompareTo(b.DataStart);
        if (order == 0) order = a.DataEnd.CompareTo(b.DataEnd);
        return order != 0 ? order : string.CompareOrdinal(a.Name, b.Name);
    }

    // Sorted by start, a range overlaps an earlier one exactly when it starts before the furthest end seen so far.
    // An empty range strictly inside another counts too, as the reference implementation (safetensors, Rust) rejects it.
    private static void CheckNoOverlap(string path, List<SafetensorsEntry> sorted)
    {
        SafetensorsEntry? furthest = null;
        foreach (var entry in sorted)
        {
            if (furthest is not null && entry.DataStart < furthest.DataEnd)
                throw new CheckpointFormatException(path, entry.Name,
                    $"data_offsets [{entry.DataStart}, {entry.DataEnd}] overlap tensor '{furthest.Name}' [{furthest.DataStart}, {furthest.DataEnd}]");
            if (furthest is null || entry.DataEnd > furthest.DataEnd) furthest = entry;
        }
    }

    private static bool TryGetNonNegativeInteger(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value) && value >= 0;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };
}
