using System.CommandLine;
using System.Globalization;
using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Commands;

/// <summary>
/// `mezo grad`: the gradient of the summed negative log-likelihood `mezo score` reports, for every weight, written as
/// safetensors under the weights' Hugging Face names (issue 12): useful on its own, and the backward pass's outside check.
/// </summary>
public sealed class GradCommand : MezoCommand
{
    private readonly ModelOptions _model;
    private readonly SequenceOptions _sequence;
    private readonly Option<string?> _out = CommonOptions.Out("FILE",
        "where to write d(−Σ log p(ids[t] | ids[<t]))/dθ: one float32 tensor per weight, under its Hugging Face name (a tied " +
        "lm_head has none: its use is summed into the token embedding's); the loss and the token count go in the file's metadata");

    public GradCommand() : base("grad", "gradient of a sequence's summed negative log-likelihood for every weight, as safetensors",
        "mezo grad --model DIR (--ids 5,17,200 | --text \"...\") --out FILE.safetensors [--backend cpu] [--dtype f32|f16|bf16]")
    {
        _model = new ModelOptions(this, withAdapter: false);
        _sequence = new SequenceOptions(this, "comma-separated token ids, used as given (at least two)");
        Add(_out);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        _sequence.Check(result);
        string path = Required(result, _out);

        Required(result, _model.Model);
        var (backend, model) = _model.Load(result, _model.Directory(result)!, ModelGradient.ActivationDType);
        using var _ = backend;
        using var __ = model;
        if (backend is not IBackwardOps) throw Error($"the {backend.Name} backend has no backward pass; use --backend cpu");
        int[] ids = _sequence.Read(result, model);
        if (ids.Length < 2) throw Error("a gradient needs at least two tokens: the first is only ever given, never scored");

        var batch = TokenBatch.Pack([ids], PaddingSide.Right);
        var rows = Enumerable.Range(0, ids.Length - 1).ToArray();
        // Weight −1 per token: the objective is the summed log-likelihood negated, the NLL `mezo score` totals.
        var weights = Enumerable.Repeat(-1f, rows.Length).ToArray();
        using var gradients = ModelGradient.Compute(model, batch, rows, ids[1..], weights);
        if (!double.IsFinite(gradients.Objective))
            throw new NonFiniteForwardException(model.Directory, "the loss");

        var tensors = gradients.Gradients.Select(g =>
            TensorToWrite.FromSingles(g.Name, DType.F32, g.Tensor.Shape.ToLongArray(), gradients.Download(g.Name)));
        var metadata = new Dictionary<string, string>
        {
            ["loss"] = gradients.Objective.ToString("R", CultureInfo.InvariantCulture),
            ["tokens"] = ids.Length.ToString(CultureInfo.InvariantCulture),
        };
        SafetensorsWriter.Write(path, tensors, metadata);
        output.WriteLine($"{ids.Length} tokens, {model.Spec.ModelType} {Path.GetFileName(model.Directory)}: summed NLL = {gradients.Objective:F4}");
        output.WriteLine($"wrote {gradients.Gradients.Count} gradients ({gradients.Bytes / 1048576.0:F1} MiB float32) to {Path.GetFullPath(path)}");
        return 0;
    }
}
