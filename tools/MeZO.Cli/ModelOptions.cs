using MeZO.Engine;
using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tokenization;

namespace MeZO.Cli;

/// <summary>The options every model-loading command shares: --model, --backend, --dtype.</summary>
internal static class ModelOptions
{
    public static readonly string[] Names = ["model", "backend", "dtype"];

    public static DType? StorageType(CommandLine cl)
    {
        string? text = cl.String("dtype");
        if (text is null) return null;
        return DTypeInfo.TryParseOption(text, out var type) ? type : throw cl.Error($"--dtype '{text}' is unknown (f32, f16, bf16)");
    }

    /// <summary>Loads the model named by --model on the backend named by --backend; the caller disposes all three.</summary>
    public static (IBackend Backend, Transformer Model) Load(CommandLine cl) => Load(cl, cl.RequiredString("model"));

    /// <summary>Loads the model in <paramref name="directory"/> on the backend named by --backend, in --dtype.</summary>
    public static (IBackend Backend, Transformer Model) Load(CommandLine cl, string directory)
    {
        var storage = StorageType(cl);
        var backend = BackendFactory.Create(cl.String("backend"));
        try
        {
            return (backend, Transformer.Load(directory, backend, storage));
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public static ModelTokenizer Tokenizer(Transformer model) => ModelTokenizer.Load(model.Directory, model.Spec);
}
