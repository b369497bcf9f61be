using System.Text.Json;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Commands;

/// <summary>`mezo inspect DIR`: what a checkpoint holds and what fine-tuning it would cost in memory.</summary>
public sealed class InspectCommand : ICommand
{
    public string Name => "inspect";
    public string Summary => "architecture, parameters by dtype, and memory for MeZO vs backprop+AdamW";
    public string Help => """
        mezo inspect DIR [--batch B] [--length T] [--json]

          DIR          Hugging Face model folder
          --batch B    batch size for the memory estimate (default 16, the paper's)
          --length T   tokens per sequence for the memory estimate (default 256)
          --json       machine-readable output
        """;

    public int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var cl = new CommandLine(Name, args, new HashSet<string> { "batch", "length", "model" }, new HashSet<string> { "json" });
        string directory = cl.String("model") ?? (cl.Positional.Count == 1 ? cl.Positional[0] : throw cl.Error("give the model folder: mezo inspect DIR"));
        int batch = cl.Int("batch", 16), length = cl.Int("length", 256);
        if (batch <= 0 || length <= 0) throw cl.Error("--batch and --length must be positive");

        var config = ModelConfigReader.Read(directory);
        using var reader = CheckpointReader.Open(directory);
        var spec = WeightPlan.ResolvePrefix(reader, config);
        // Only the tensors the architecture uses count (a stored copy of a tied head is not a parameter).
        var parameters = WeightPlan.For(spec).Select(w => (w.ElementCount, reader.Contains(w.Name) ? reader.Get(w.Name).DType : DType.F32)).ToArray();
        var byType = parameters.GroupBy(p => p.Item2).OrderBy(g => g.Key).Select(g => (Type: g.Key, Count: g.Sum(p => p.ElementCount))).ToArray();
        var estimate = MemoryEstimate.For(spec, parameters, batch, length);

        if (cl.Has("json"))
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
                json.WriteNumber("weight_bytes", estimate.WeightBytes);
                json.WriteNumber("batch", batch);
                json.WriteNumber("length", length);
                json.WriteNumber("mezo_bytes", estimate.MezoTotal);
                json.WriteNumber("backprop_adamw_bytes", estimate.BackpropTotal);
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
        output.WriteLine($"  weights        {Units.Bytes(estimate.WeightBytes)}");
        output.WriteLine($"  memory to fine-tune at batch {batch} × {length} tokens (estimate):");
        output.WriteLine($"    MeZO                {Units.Bytes(estimate.MezoTotal),12}  (weights + {Units.Bytes(estimate.MezoWorkspaceBytes)} forward workspace)");
        output.WriteLine($"    backprop + AdamW    {Units.Bytes(estimate.BackpropTotal),12}  (weights, gradients {Units.Bytes(estimate.GradientBytes)}, " +
                         $"Adam moments {Units.Bytes(estimate.OptimizerStateBytes)}, fp32 master {Units.Bytes(estimate.MasterWeightBytes)}, " +
                         $"activations {Units.Bytes(estimate.BackpropActivationBytes)})");
        output.WriteLine($"    ratio               {estimate.BackpropTotal / (double)estimate.MezoTotal:F1}× less memory with MeZO");
        return 0;
    }
}
