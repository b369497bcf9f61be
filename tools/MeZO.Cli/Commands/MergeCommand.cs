using System.CommandLine;
using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Models;
using MeZO.Trainer.Runs;

namespace MeZO.Cli.Commands;

/// <summary>`mezo merge`: a LoRA adapter folded into its base, written as a full model folder.</summary>
public sealed class MergeCommand : MezoCommand
{
    private readonly Option<string?> _model = ModelOptions.ModelOption("the model the adapter was trained on");
    private readonly Option<string?> _revision = ModelOptions.RevisionOption();
    private readonly Option<string?> _adapter = OptionKinds.Text("--adapter", "DIR",
        "a PEFT LoRA folder (adapter_config.json, adapter_model.safetensors): a run's model/ or best/");
    private readonly Option<string?> _out = CommonOptions.Out("DIR",
        "the merged model: W + (α/r)·B·A in each adapted weight, in the base's dtype, tensor names and shard layout, with its " +
        "config and tokenizer files; a prefix cannot be merged (apply it with --adapter)");

    public MergeCommand() : base("merge", "fold a LoRA adapter into its base model and write the full weights",
        "mezo merge --model BASE --adapter DIR --out DIR")
    {
        Add(_model);
        Add(_revision);
        Add(_adapter);
        Add(_out);
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        string baseModel = ModelOptions.Resolve(Required(result, _model), result.GetValue(_revision))!, folder = Required(result, _adapter), outDirectory = Required(result, _out);
        if (AdapterFolder.Describe(folder).Kind != AdapterKind.Lora)
            throw new InvalidInputException($"{folder}: a prefix adds keys and values, not weights: there is nothing to merge (apply it with --adapter)");
        if (Path.GetFullPath(outDirectory) == Path.GetFullPath(baseModel))
            throw new InvalidInputException("--out must not be the base model's folder");
        using var backend = new Engine.Backends.Cpu.CpuBackend();
        using var model = Transformer.Load(baseModel, backend);
        using var adapter = AdapterFolder.LoadLora(folder, model);
        LoraMerge.Into(adapter);
        model.Weights.Save(outDirectory, RunFolder.ModelSideFiles(baseModel));
        output.WriteLine($"merged {adapter.Modules.Count} adapted weights (r {adapter.Rank}, α {adapter.Config.Alpha}) into {Path.GetFullPath(outDirectory)}");
        return 0;
    }
}
