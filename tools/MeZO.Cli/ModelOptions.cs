using System.CommandLine;
using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Streaming;
using MeZO.Engine.Tensors;
using MeZO.Engine.Tokenization;
using MeZO.Trainer.Training;

namespace MeZO.Cli;

/// <summary>
/// --model, --revision, --backend, --dtype, --compute, --adapter and --max-device-memory: each option defined once (the static factories), and the set
/// a model-loading command declares, with the loading they drive. A --model that is not a folder may be a Hugging Face
/// Hub id, found in the local cache as transformers finds it offline (<see cref="HubCache"/>).
/// </summary>
internal sealed class ModelOptions
{
    public const string ModelFolder = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json for --text)";

    private readonly MezoCommand _command;

    /// <summary>
    /// Adds --model, --revision, then --adapter if <paramref name="withAdapter"/>, --backend, --dtype, --compute, and
    /// --max-device-memory if <paramref name="withStreaming"/> to <paramref name="command"/>.
    /// </summary>
    public ModelOptions(MezoCommand command, bool withAdapter, string modelDescription = ModelFolder, bool withStreaming = false)
    {
        _command = command;
        Model = ModelOption(modelDescription);
        command.Add(Model);
        command.Add(Revision = RevisionOption());
        if (withAdapter) command.Add(Adapter = AdapterOption());
        command.Add(Backend = BackendOption());
        command.Add(Dtype = DtypeOption());
        command.Add(Compute = ComputeOption());
        if (withStreaming) command.Add(MaxDeviceMemory = MaxDeviceMemoryOption());
    }

    public Option<string?> Model { get; }
    public Option<string?> Revision { get; }
    public Option<string?>? Adapter { get; }
    public Option<string?> Backend { get; }
    public Option<DType?> Dtype { get; }
    public Option<DType?> Compute { get; }
    public Option<long?>? MaxDeviceMemory { get; }

    public static Option<string?> ModelOption(string description, params string[] aliases) =>
        OptionKinds.Text("--model", "DIR", description + "; or a Hub id (org/name) already in the Hugging Face cache", aliases);

    public static Option<string?> RevisionOption() =>
        OptionKinds.Text("--revision", "REV", "with a Hub id: the branch, tag or commit of the cached snapshot (default main)");

    /// <summary>
    /// The folder <paramref name="model"/> names: itself, or a Hub id's cached snapshot at <paramref name="revision"/>;
    /// null when no model was given.
    /// </summary>
    public static string? Resolve(string? model, string? revision)
    {
        if (model is null)
            return revision is null ? null : throw new InvalidInputException($"--revision {revision} goes with --model (a Hub id)");
        return HubCache.Resolve(model, revision);
    }

    /// <summary>The folder --model and --revision name, or null when --model is not given.</summary>
    public string? Directory(ParseResult result) => Resolve(result.GetValue(Model), result.GetValue(Revision));

    public static Option<string?> BackendOption(string description = "where the model runs (default cpu; cuda reads MEZO_CUDA_DEVICE, MEZO_CUDA_MATMUL cublaslt|kernels, MEZO_CUDA_PRECISION mixed|f32, MEZO_CUDA_NOISE exact|fast)") =>
        OptionKinds.Word("--backend", description, "cpu", "cuda");

    public static Option<DType?> DtypeOption(string description = "weight storage dtype (default: the checkpoint's)") =>
        OptionKinds.Choice<DType>("--dtype", description, ["f32", "f16", "bf16"], text => DTypeInfo.TryParseOption(text, out var type) ? type : null);

    public static Option<DType?> ComputeOption() =>
        OptionKinds.Choice<DType>("--compute", "the activations' dtype, float32 arithmetic inside each op (default: f32 on the cpu " +
                                               "backend, the weights' dtype on cuda)", ["f32", "f16", "bf16"],
            text => DTypeInfo.TryParseOption(text, out var type) ? type : null);

    /// <summary>`--max-device-memory BYTES`: streams the decoder layers from host memory when the model does not fit.</summary>
    public static Option<long?> MaxDeviceMemoryOption() =>
        OptionKinds.Size("--max-device-memory", "BYTES",
            "most bytes the backend may hold (512MiB, 2GiB): the layers stay in host memory and are copied in as each runs; " +
            "results are bit-identical (default: the whole model on the backend)");

    /// <summary>A saved PEFT adapter folder applied on top of --model without merging (score, generate, eval).</summary>
    public static Option<string?> AdapterOption() =>
        OptionKinds.Text("--adapter", "DIR", "a PEFT adapter folder (adapter_config.json, adapter_model.safetensors) applied to the model " +
                                             "without merging: a run's model/ or best/ after --peft, or PEFT's own");

    /// <summary>
    /// Loads the model named by --model on the backend named by --backend, streaming its layers under --max-device-memory
    /// if given, with --adapter's adapter attached if given.
    /// </summary>
    public LoadedModel LoadWithAdapter(ParseResult result)
    {
        _command.Required(result, Model);
        long? budget = MaxDeviceMemory is null ? null : result.GetValue(MaxDeviceMemory);
        var backend = BackendFactory.Create(result.GetValue(Backend));
        IBackend? host = null;
        Transformer? model = null;
        try
        {
            host = budget is null ? null : BackendFactory.CreateStreamingHost(backend);
            model = Transformer.Load(Directory(result)!, backend, result.GetValue(Dtype),
                streaming: host is null ? null : new LayerStreaming(host, budget!.Value), compute: result.GetValue(Compute));
            var adapter = Adapter is not null && result.GetValue(Adapter) is { } folder ? PeftSetup.Apply(model, folder) : null;
            return new LoadedModel(backend, host, model, adapter);
        }
        catch
        {
            model?.Dispose();
            host?.Dispose();
            backend.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the model in <paramref name="directory"/> on the backend named by --backend, in --dtype, computing in
    /// --compute, or in <paramref name="defaultCompute"/> where it is not given (null: the backend's default).
    /// </summary>
    public (IBackend Backend, Transformer Model) Load(ParseResult result, string directory, DType? defaultCompute = null)
    {
        var backend = BackendFactory.Create(result.GetValue(Backend));
        try
        {
            return (backend, Transformer.Load(directory, backend, result.GetValue(Dtype), compute: result.GetValue(Compute) ?? defaultCompute));
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public static ModelTokenizer Tokenizer(Transformer model) => ModelTokenizer.Load(model.Directory, model.Spec);
}

/// <summary>
/// A model on its backend (its layers on a host backend when streamed), and the adapter applied to it if any; disposed in
/// the order they depend on each other.
/// </summary>
internal sealed class LoadedModel(IBackend backend, IBackend? host, Transformer model, IAdapter? adapter) : IDisposable
{
    public IBackend Backend { get; } = backend;
    public Transformer Model { get; } = model;
    public IAdapter? Adapter { get; } = adapter;

    public void Dispose()
    {
        Model.Dispose();
        Adapter?.Dispose();
        host?.Dispose();
        Backend.Dispose();
    }
}
