using System.Text.Json;
using MeZO.Engine.Backends.Cuda.Planning;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Cli.Bench;

/// <summary>
/// `mezo bench step --backend cuda --plan`: the step `mezo bench step` times (<see cref="StepWorkload"/>), run on a CUDA
/// plan backend (<see cref="CudaPlan"/>) instead of a GPU, and printed launch by launch with its bytes, FLOPs and
/// roofline time on the named GPU. Only config.json is read: no weights, no tokenizer, no GPU.
/// </summary>
internal static class PlanBench
{
    public static void Run(string modelDirectory, GpuSpec gpu, DType? storage, DType? compute, int batch, int length, TextWriter output)
    {
        var dtype = storage ?? ConfigDtype(modelDirectory) ?? DType.F32;
        using var plan = CudaPlan.Create(gpu);
        using var model = Transformer.FromConfig(modelDirectory, plan.Backend, dtype, compute);
        using var work = new StepWorkload(model, batch, length);
        // The benchmark's warm-up, so the step recorded is a steady-state one (workspaces made, nothing allocated).
        work.Loss();
        work.Step();
        Write(plan.Record(model, work.Step), model, dtype, batch, length, output);
    }

    /// <summary>config.json's torch_dtype, the dtype the weights would load in; null when absent or not a float dtype.</summary>
    private static DType? ConfigDtype(string modelDirectory)
    {
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(modelDirectory, "config.json")));
        return config.RootElement.TryGetProperty("torch_dtype", out var value) && value.ValueKind == JsonValueKind.String &&
               DTypeInfo.TryParseOption(value.GetString()!, out var type) && type.IsFloatingPoint()
            ? type : null;
    }

    private static void Write(StepPlan plan, Transformer model, DType dtype, int batch, int length, TextWriter output)
    {
        var gpu = plan.Gpu;
        output.WriteLine($"roofline ESTIMATE, not a measurement: one MeZO step as `mezo bench step --backend cuda` runs it, " +
                         $"{Path.GetFileName(model.Directory)}, {Units.Count(model.Weights.ParameterCount)} parameters " +
                         $"({Units.Bytes(model.Weights.Bytes)} {dtype.ToString().ToLowerInvariant()}, {model.Compute.ToString().ToLowerInvariant()} " +
                         $"activations), batch {batch} × {length}, on an {gpu.Name} ({gpu.Limits})");
        output.WriteLine("each launch takes max(bytes / bandwidth, FLOPs / its pipe's peak); the step, their sum (one stream; " +
                         "compulsory traffic, no launch gaps)");

        var layers = Enumerable.Range(0, plan.Layers).Select(plan.InLayer).ToArray();
        for (int l = 0; l < layers.Length; l++)
        {
            // A layer that launches what the one before it printed did is not printed again.
            int same = l;
            while (same + 1 < layers.Length && SameLaunches(layers[same + 1], layers[l])) same++;
            output.WriteLine();
            output.WriteLine(same > l ? $"layer {l} (layers {l + 1}–{same} launch the same):" : $"layer {l}:");
            Rows(plan, layers[l], output);
            l = same;
        }
        output.WriteLine();
        output.WriteLine("outside the layers (embeddings, final norm, LM head, loss, their updates):");
        Rows(plan, plan.InLayer(PlannedLaunch.OutsideLayers), output);

        output.WriteLine();
        output.WriteLine($"  {"per layer",-38} {"launches",8} {"read",11} {"written",11} {"GFLOP",10} {"ms",9}");
        for (int l = 0; l < layers.Length; l++)
        {
            int same = l;
            while (same + 1 < layers.Length && SameLaunches(layers[same + 1], layers[l])) same++;
            Subtotal(plan, same > l ? $"layers {l}–{same}, each" : $"layer {l}", layers[l], output);
            l = same;
        }
        Subtotal(plan, "outside the layers", plan.InLayer(PlannedLaunch.OutsideLayers), output);

        output.WriteLine();
        output.WriteLine($"  {"by kernel, whole step",-38} {"launches",8} {"read",11} {"written",11} {"GFLOP",10} {"ms",9} {"of step",8}");
        foreach (var group in plan.Launches.GroupBy(l => l.Name).OrderByDescending(g => plan.SecondsOf(g)))
        {
            double seconds = plan.SecondsOf(group);
            output.WriteLine($"  {group.Key,-38} {group.Count(),8} {Units.Bytes(group.Sum(l => l.Cost.BytesRead)),11} " +
                             $"{Units.Bytes(group.Sum(l => l.Cost.BytesWritten)),11} {group.Sum(l => l.Cost.Flops) / 1e9,10:F1} " +
                             $"{seconds * 1e3,9:F3} {seconds / plan.Seconds,8:P1}");
        }

        var memoryBound = plan.Launches.Where(l => l.Cost.MemoryBound(gpu)).ToArray();
        var computeBound = plan.Launches.Where(l => !l.Cost.MemoryBound(gpu)).ToArray();
        int products = plan.Launches.Count(l => l.IsProduct);
        output.WriteLine();
        output.WriteLine($"step: {plan.Launches.Count} launches ({plan.Launches.Count - products} kernels, {products} cuBLASLt products), " +
                         $"{Units.Bytes(plan.BytesRead)} read, {Units.Bytes(plan.BytesWritten)} written, {plan.Flops / 1e12:F2} TFLOP; " +
                         $"peak memory {Units.Bytes(plan.PeakBytes)} of the GPU's {Units.Bytes(gpu.MemoryBytes)}");
        output.WriteLine($"roofline step time: {plan.Seconds * 1e3:F3} ms (memory-bound launches {plan.SecondsOf(memoryBound) * 1e3:F3} ms, " +
                         $"compute-bound {plan.SecondsOf(computeBound) * 1e3:F3} ms) on an {gpu.Name}");
    }

    private static bool SameLaunches(IReadOnlyList<PlannedLaunch> a, IReadOnlyList<PlannedLaunch> b) =>
        a.Select(l => (l.Name, l.Cost)).SequenceEqual(b.Select(l => (l.Name, l.Cost)));

    /// <summary>
    /// The launches with identical cost as one row with their count (the ±ε streams' twins, the LM head's vocabulary
    /// slices), rows in the order of each one's first launch.
    /// </summary>
    private static void Rows(StepPlan plan, IReadOnlyList<PlannedLaunch> launches, TextWriter output)
    {
        output.WriteLine($"  {"launch",-32} {"×",3} {"shape, each",-34} {"read",11} {"written",11} {"GFLOP",10} {"pipe",-5} {"µs",9}  bound");
        foreach (var same in launches.GroupBy(l => (l.Name, l.Cost)))
        {
            var (name, c) = same.Key;
            output.WriteLine($"  {name,-32} {same.Count(),3} {c.Shape,-34} {Units.Bytes(c.BytesRead),11} {Units.Bytes(c.BytesWritten),11} " +
                             $"{c.Flops / 1e9,10:F3} {Pipe(c.Pipe),-5} {c.Seconds(plan.Gpu) * 1e6,9:F1}  {(c.MemoryBound(plan.Gpu) ? "memory" : "compute")}");
        }
        Subtotal(plan, "total", launches, output);
    }

    private static void Subtotal(StepPlan plan, string label, IReadOnlyList<PlannedLaunch> launches, TextWriter output) =>
        output.WriteLine($"  {label,-38} {launches.Count,8} {Units.Bytes(launches.Sum(l => l.Cost.BytesRead)),11} " +
                         $"{Units.Bytes(launches.Sum(l => l.Cost.BytesWritten)),11} {launches.Sum(l => l.Cost.Flops) / 1e9,10:F1} " +
                         $"{plan.SecondsOf(launches) * 1e3,9:F3}");

    private static string Pipe(ComputePipe pipe) => pipe switch
    {
        ComputePipe.Fp32 => "fp32",
        ComputePipe.Fp64 => "fp64",
        ComputePipe.Tf32Tensor => "tf32",
        ComputePipe.HalfTensor => "16bit",
        _ => pipe.ToString(),
    };
}
