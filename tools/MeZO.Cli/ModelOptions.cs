using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>The options every model-loading command shares: --model, --backend, --dtype, and --adapter where it applies.</summary>
internal static class ModelOptions
{
    public static readonly string[] Names = ["model", "backend", "dtype"];

    /// <summary>A saved PEFT adapter folder applied on top of --model without merging (score, generate, eval).</summary>
    public const string Adapter = "adapter";

    public static DType? StorageType(CommandLine cl)
    {
        string? text = cl.String("dtype");
        if (text is null) return null;
        return DTypeInfo.TryParseOption(text, out var type) ? type : throw cl.Error($"--dtype '{text}' is unknown (f32, f16, bf16)");
    }

    /// <summary>Loads the model named by --model on the backend named by --backend, with --adapter's adapter attached if given.</summary>
    public static LoadedModel LoadWithAdapter(CommandLine cl)
    {
        var (backend, model) = Load(cl, cl.RequiredString("model"));
        try
        {
            var adapter = cl.String(Adapter) is { } folder ? PeftSetup.Apply(model, folder) : null;
            return new LoadedModel(backend, model, adapter);
        }
        catch
        {
            model.Dispose();
            backend.Dispose();
            throw;
        }
    }

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

/// <summary>A model on its backend, and the adapter applied to it if any; disposed in the order they depend on each other.</summary>
internal sealed class LoadedModel(IBackend backend, Transformer model, IAdapter? adapter) : IDisposable
{
    public IBackend Backend { get; } = backend;
    public Transformer Model { get; } = model;
    public IAdapter? Adapter { get; } = adapter;

    public void Dispose()
    {
        Model.Dispose();
        Adapter?.Dispose();
        Backend.Dispose();
    }
}
