using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Checkpoints;

/// <summary>
/// A set of named backend tensors in one .safetensors file (an optimizer's state beside a checkpoint's weights): written
/// atomically in chunks, and read back into tensors of exactly the names, dtypes and shapes it was written from.
/// </summary>
public static class TensorSetFile
{
    public static void Save(string path, IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var staging = new StagingBuffer(StagingBuffer.DefaultChunkBytes);
        SafetensorsWriter.Write(path, tensors.Select(t =>
            TensorToWrite.FromWriter(t.Name, t.Tensor.DType, t.Tensor.Shape.ToLongArray(), stream => WeightCopy.Download(t.Tensor, stream, staging))),
            metadata);
    }

    /// <summary>Overwrites each tensor with the file's tensor of its name; returns the file's metadata.</summary>
    /// <exception cref="InvalidInputException">the file is missing or damaged, lacks a tensor, holds one of another dtype or shape, or one more.</exception>
    public static IReadOnlyDictionary<string, string> Restore(string path, IReadOnlyList<NamedTensor> tensors)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: missing");
        using var file = SafetensorsFile.Open(path);
        using var staging = new StagingBuffer(StagingBuffer.DefaultChunkBytes);
        var names = tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        if (file.Entries.FirstOrDefault(e => !names.Contains(e.Name)) is { } extra)
            throw new InvalidInputException($"{path}: holds '{extra.Name}', which this run does not have");
        foreach (var t in tensors)
        {
            if (!file.TryGetEntry(t.Name, out var entry)) throw new InvalidInputException($"{path}: tensor '{t.Name}' is missing");
            var source = new CheckpointTensor(file, entry);
            if (source.DType != t.Tensor.DType || !source.Shape.SequenceEqual(t.Tensor.Shape.ToLongArray()))
                throw new InvalidInputException(
                    $"{path}: tensor '{t.Name}' is {source.DType} ({string.Join(", ", source.Shape)}), the run holds {t.Tensor.DType} {t.Tensor.Shape}");
            WeightCopy.Upload(source, t.Tensor, staging);
        }
        return file.Metadata;
    }
}
