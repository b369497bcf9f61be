namespace MeZO.Engine.Tensors;

/// <summary>Element types the engine stores. Compute is float32; F16/BF16 are storage formats for weights.</summary>
public enum DType
{
    F32,
    F16,
    BF16,
    /// <summary>Token ids, positions and masks.</summary>
    I32,
    /// <summary>Tolerated in checkpoints for non-parameter buffers; never computed with.</summary>
    I64,
}

public static class DTypeInfo
{
    public static int SizeOf(this DType type) => type switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown dtype"),
    };

    public static bool IsFloatingPoint(this DType type) => type is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The dtype's name in a safetensors header.</summary>
    public static string SafetensorsName(this DType type) => type switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I32 => "I32",
        DType.I64 => "I64",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown dtype"),
    };

    /// <summary>The dtype's name in config.json's torch_dtype, as transformers writes it.</summary>
    public static string TorchName(this DType type) => type switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "torch_dtype names a floating-point dtype"),
    };

    public static bool TryParseSafetensorsName(string name, out DType type)
    {
        switch (name)
        {
            case "F32": type = DType.F32; return true;
            case "F16": type = DType.F16; return true;
            case "BF16": type = DType.BF16; return true;
            case "I32": type = DType.I32; return true;
            case "I64": type = DType.I64; return true;
            default: type = default; return false;
        }
    }

    /// <summary>Parses a user-facing dtype option (`--dtype f32|f16|bf16`, also torch_dtype names).</summary>
    public static bool TryParseOption(string? text, out DType type)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "f32" or "fp32" or "float32" or "float": type = DType.F32; return true;
            case "f16" or "fp16" or "float16" or "half": type = DType.F16; return true;
            case "bf16" or "bfloat16": type = DType.BF16; return true;
            default: type = default; return false;
        }
    }
}
