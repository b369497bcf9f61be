using System.CommandLine;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Commands;

/// <summary>
/// `mezo inspect DIR`: what a checkpoint holds and what fine-tuning it would cost in memory; with --dump-activations,
/// every named intermediate of one forward pass, for whoever debugs a conversion against transformers' hooks.
/// </summary>
public sealed class InspectCommand : MezoCommand
{
    private readonly Argument<string?> _directory = new("DIR")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "Hugging Face model folder (or --model DIR)",
    };
    private readonly ModelOptions _model;
    private readonly Option<int?> _batchSize = CommonOptions.BatchSize("batch size for the memory estimate (default 16, the paper's)");
    private readonly Option<int?> _length = CommonOptions.Length(
        "tokens per sequence for the memory estimate (default 256); the estimate is of what this engine allocates for B × T " +
        "tokens with every token scored, the scenario `mezo bench memory` measures");
    private readonly Option<bool> _json = CommonOptions.Json();
    private readonly Option<bool> _dump = OptionKinds.Flag("--dump-activations",
        "run one forward pass over the sequence and write every named intermediate (embed, layers.L.attn_norm, ..., final_norm, " +
        "logits; float32, one row per token) to FILE (default activations.safetensors), then print each one's shape, mean, std and max |x|");
    private readonly SequenceOptions _sequence;
    private readonly Option<string?> _out = CommonOptions.Out("FILE", "where --dump-activations writes (default activations.safetensors)");

    public InspectCommand() : base("inspect", "architecture, parameters by dtype, and memory to fine-tune with MeZO vs backprop",
        "mezo inspect DIR [--batch-size B] [--length T] [--json]",
        "mezo inspect DIR --dump-activations (--ids 5,17,200 | --text \"...\") [--out FILE] [--backend cpu|cuda] [--dtype f32|f16|bf16]")
    {
        Add(_directory);
        _model = new ModelOptions(this, withAdapter: false, "Hugging Face model folder, as DIR");
        Add(_batchSize);
        Add(_length);
        Add(_json);
        Add(_dump);
        _sequence = new SequenceOptions(this);
        Add(_out);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        string? positional = result.GetValue(_directory), named = result.GetValue(_model.Model);
        if (positional is not null && named is not null) throw Error("give the model folder once: as DIR or as --model DIR");
        string directory = ModelOptions.Resolve(positional ?? named ?? throw Error("give the model folder: mezo inspect DIR"),
            result.GetValue(_model.Revision))!;
        if (result.GetValue(_dump)) return DumpActivations(result, directory, output);
        if (new Option[] { _sequence.Ids, _sequence.Text, _out, _model.Backend, _model.Dtype }.FirstOrDefault(result.Has) is { } dumpOnly)
            throw Error($"{dumpOnly.Name} goes with --dump-activations");
        int batch = result.GetValue(_batchSize) ?? 16, length = result.GetValue(_length) ?? 256;
        if (batch <= 0 || length <= 0) throw Error("--batch-size and --length must be positive");

        var config = ModelConfigReader.Read(directory);
        using var reader = CheckpointReader.Open(directory);
        var spec = WeightPlan.ResolvePrefix(reader, config);
        // Only the tensors the architecture uses count (a stored copy of a tied head is not a parameter).
        var parameters = WeightPlan.For(spec).Select(w => (w.ElementCount, reader.Contains(w.Name) ? reader.Get(w.Name).DType : DType.F32)).ToArray();
        var byType = parameters.GroupBy(p => p.Item2).OrderBy(g => g.Key).Select(g => (Type: g.Key, Count: g.Sum(p => p.ElementCount))).ToArray();
        (string Name, string Json, MemoryEstimate Estimate)[] methods =
        [
            ("MeZO", "mezo", MemoryEstimate.For(TrainingMethod.Mezo, spec, parameters, batch, length)),
            ("backprop, SGD", "sgd", MemoryEstimate.For(TrainingMethod.Sgd, spec, parameters, batch, length)),
            ("backprop, AdamW", "adamw", MemoryEstimate.For(TrainingMethod.AdamW, spec, parameters, batch, length)),
            ("AdamW, checkpointed", "adamw_checkpointed", MemoryEstimate.For(TrainingMethod.AdamW, spec, parameters, batch, length, recomputeLayers: true)),
        ];
        var mezo = methods[0].Estimate;
        var adamW = methods[2].Estimate;

        if (result.GetValue(_json))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteString("model_type", spec.ModelType);
                json.WriteNumber("layers", spec.NumLayers);
                json.WriteNumber("hidden_size", spec.HiddenSize);
                json.WriteNumber("heads", spec.NumHeads);
                json.WriteNumber("kv_heads", spec.NumKvHeads);
                json.WriteNumber("head_dim", spec.HeadDim);
                json.WriteNumber("intermediate_size", spec.IntermediateSize);
                json.WriteNumber("vocab_size", spec.VocabSize);
                json.WriteStartObject("parameters");
                foreach (var (type, count) in byType) json.WriteNumber(type.SafetensorsName(), count);
                json.WriteEndObject();
                json.WriteNumber("weight_bytes", mezo.Weights);
                json.WriteNumber("batch", batch);
                json.WriteNumber("length", length);
                json.WriteNumber("mezo_bytes", mezo.Total);
                json.WriteNumber("backprop_adamw_bytes", adamW.Total);
                json.WriteStartObject("estimates");
                foreach (var (_, key, e) in methods)
                {
                    json.WriteStartObject(key);
                    json.WriteNumber("weights", e.Weights);
                    json.WriteNumber("gradients", e.Gradients);
                    json.WriteNumber("optimizer_state", e.OptimizerState);
                    json.WriteNumber("activations", e.Activations);
                    json.WriteNumber("total", e.Total);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
                json.WriteEndObject();
            }, indented: true);
            return 0;
        }

        output.WriteLine($"{Path.GetFullPath(directory)}");
        output.WriteLine($"  architecture   {spec.ModelType}: {spec.NumLayers} layers, hidden {spec.HiddenSize}, {spec.NumHeads} heads " +
                         $"({spec.NumKvHeads} key/value) of {spec.HeadDim}, MLP {spec.IntermediateSize} ({spec.Mlp}, {spec.Activation}), " +
                         $"{spec.Norm}{(spec.PreNorm ? "" : " post-LN")}, {spec.Positions} positions, vocabulary {spec.VocabSize}" +
                         $"{(spec.TiedLmHead ? ", tied head" : "")}{(spec.HasEmbeddingProjection ? $", word embeddings {spec.WordEmbeddingSize} projected" : "")}");
        output.WriteLine($"  parameters     {Units.Count(parameters.Sum(p => p.ElementCount))}: " +
                         string.Join(", ", byType.Select(b => $"{Units.Count(b.Count)} {b.Type}")));
        output.WriteLine($"  weights        {Units.Bytes(mezo.Weights)}");
        output.WriteLine($"  memory to fine-tune every weight at batch {batch} × {length} tokens (estimate; `mezo bench memory` measures it):");
        output.WriteLine($"    {"",-22}{"weights",11}{"gradients",11}{"optimizer",11}{"activations",13}{"total",11}");
        foreach (var (name, _, e) in methods)
            output.WriteLine($"    {name,-22}{Units.Bytes(e.Weights),11}{Units.Bytes(e.Gradients),11}{Units.Bytes(e.OptimizerState),11}" +
                             $"{Units.Bytes(e.Activations),13}{Units.Bytes(e.Total),11}");
        output.WriteLine($"    backprop with AdamW needs {adamW.Total / (double)mezo.Total:F1}× MeZO's memory");
        return 0;
    }

    /// <summary>
    /// One forward pass over the sequence with an <see cref="ActivationRecorder"/> attached (the names are
    /// IForwardObserver's), the logits at every token; the recorded tensors go to a safetensors file named as a state
    /// dict would name them. A pass that overflows is still written and printed before its error: the table then shows
    /// the first op whose values are not finite.
    /// </summary>
    private int DumpActivations(ParseResult result, string directory, TextWriter output)
    {
        if (new Option[] { _batchSize, _length, _json }.FirstOrDefault(result.Has) is { } memoryOnly)
            throw Error($"{memoryOnly.Name} does not go with --dump-activations");
        _sequence.Check(result);
        string path = Path.GetFullPath(result.GetValue(_out) ?? "activations.safetensors");
        if (Directory.Exists(path)) throw Error($"--out {path} is a folder; give a file name");

        var (backend, model) = _model.Load(result, directory);
        using var _ = backend;
        using var __ = model;
        int[] ids = _sequence.Read(result, model);
        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        var recorder = new ActivationRecorder();
        NonFiniteForwardException? overflow = null;
        using (var ws = model.CreateWorkspace(1, ids.Length))
        {
            ws.Observer = recorder;
            try
            {
                model.LogitsAt(ws, batch, Enumerable.Range(0, ids.Length).ToArray(), new float[ids.Length * model.Spec.VocabSize]);
            }
            catch (NonFiniteForwardException e)
            {
                overflow = e;
            }
        }

        var recorded = recorder.Recorded;
        SafetensorsWriter.Write(path,
            recorded.Select(a => TensorToWrite.FromSingles(a.Key, DType.F32, [a.Rows, a.Width], a.Values)),
            new Dictionary<string, string> { ["model"] = model.Directory, ["ids"] = string.Join(",", ids) });

        output.WriteLine($"{ids.Length} tokens, {model.Spec.ModelType} {Path.GetFileName(model.Directory)}: {recorded.Count} activations in the order computed");
        output.WriteLine($"  {"name",-14} {"layer",5}  {"shape",-12} {"mean",12} {"std",12} {"max |x|",12}");
        foreach (var a in recorded)
        {
            double mean = a.Values.Average(v => (double)v);
            double std = Math.Sqrt(a.Values.Average(v => (v - mean) * (v - mean)));
            double max = a.Values.Max(v => Math.Abs((double)v));
            output.WriteLine($"  {a.Name,-14} {a.Layer,5}  {$"{a.Rows}×{a.Width}",-12} {mean,12:G5} {std,12:G5} {max,12:G5}");
        }
        output.WriteLine($"wrote {path}: each as layers.LAYER.NAME, or NAME outside the layers");
        if (overflow is not null) throw overflow;
        return 0;
    }
}
