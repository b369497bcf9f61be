using System.CommandLine;
using System.Text.Json;
using MeZO.Cli.Bench;
using MeZO.Engine;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;
using MeZO.Verification;

namespace MeZO.Cli.Commands;

/// <summary>`mezo verify`: the CUDA kernels compiled (no GPU needed), or every op and a MeZO step on the GPU against the CPU.</summary>
public sealed class VerifyCommand : MezoCommand
{
    private readonly Option<bool> _compileOnly = OptionKinds.Flag("--compile-only",
        "compile every kernel with NVRTC (no GPU needed) and print, per kernel, registers, shared memory and spilled bytes; " +
        "exits 1 on a compile error or any spill");
    private readonly Option<string?> _arch = OptionKinds.Text("--arch", "LIST", "compute capabilities to compile for (default sm_80,sm_90)");
    private readonly Option<string?> _backend = ModelOptions.BackendOption(
        "cuda (the default): run every op on the GPU against the CPU on awkward shapes in three configurations (cuBLASLt mixed " +
        "precision with exact z; float32 with fast z; NVRTC tensor-core kernels), then tiny OPT/Llama/GPT-2 models' logits and " +
        "one full MeZO step of each (losses, then weights), CUDA graphs and memory accounting; exits 1 if any check fails");
    private readonly Option<string?> _model = ModelOptions.ModelOption("also compare this checkpoint's logits and a MeZO step of it on the GPU and the CPU");
    private readonly Option<string?> _revision = ModelOptions.RevisionOption();
    private readonly Option<string?> _bench = OptionKinds.Text("--bench", "DIR",
        "time a forward pass and a MeZO step of this checkpoint on the GPU (tokens/s, step time, memory) at --batch-size (16) × " +
        "--length (256), the median of --steps (3) repetitions");
    private readonly Option<int?> _batchSize = CommonOptions.BatchSize("with --bench: sequences per batch (default 16)");
    private readonly Option<int?> _length = CommonOptions.Length("with --bench: tokens per sequence (default 256)");
    private readonly Option<int?> _steps = OptionKinds.Int("--steps", "N", "with --bench: repetitions (default 3)");
    private readonly Option<DType?> _dtype = ModelOptions.DtypeOption("with --bench: weight storage dtype (default: the checkpoint's)");
    private readonly Option<bool> _json = CommonOptions.Json();

    public VerifyCommand() : base("verify", "compile every CUDA kernel, or check every GPU op and a MeZO step against the CPU",
        "mezo verify --compile-only [--arch sm_80,sm_90] [--json]",
        "mezo verify [--backend cuda] [--model DIR] [--json]",
        "mezo verify --bench DIR [--batch-size B] [--length T] [--steps N] [--dtype bf16] [--json]")
    {
        Option[] options = [_compileOnly, _arch, _backend, _model, _revision, _bench, _batchSize, _length, _steps, _dtype, _json];
        foreach (var option in options) Add(option);
        Notes = "Environment: MEZO_CUDA_LIBRARY_PATH (folders holding libnvrtc / libcublasLt), MEZO_KERNEL_CACHE.";
    }

    protected override int Run(ParseResult result, TextWriter output)
    {
        if (result.GetValue(_compileOnly))
        {
            foreach (var option in new[] { _backend, _model, _bench })
                if (result.Has(option)) throw Error($"--compile-only runs no backend; drop {option.Name}");
            return CompileOnly(result, output);
        }
        if (result.Has(_arch)) throw Error("--arch goes with --compile-only (on a GPU the device's own architecture is used)");
        string backend = result.GetValue(_backend) ?? "cuda";
        if (backend != "cuda") throw Error($"--backend {backend}: verify compares the CUDA backend with the CPU; use --backend cuda");
        return result.Has(_bench) ? Bench(result, output) : Parity(result, output);
    }

    private int CompileOnly(ParseResult result, TextWriter output)
    {
        var architectures = (result.GetValue(_arch) ?? "sm_80,sm_90").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(a => KernelCompilation.TryParseArchitecture(a, out int cc) ? cc : throw Error($"--arch '{a}' is not an architecture like sm_80"))
            .ToArray();
        // NVRTC takes minutes for every file on a slow machine: each file reports as it compiles.
        var reports = ConsoleProgress.Run(output, (progress, _) => architectures
            .Select(cc => KernelCompilation.CompileAll(cc, (done, total) => progress.Working($"compiling for sm_{cc}", done, total)))
            .ToArray());
        bool failed = reports.Any(r => !r.AllCompiled || r.AnySpills);
        if (result.GetValue(_json))
        {
            JsonOutput.Write(json =>
            {
                json.WriteStartObject();
                json.WriteString("nvrtc", reports[0].NvrtcVersion);
                json.WriteString("nvrtc_path", reports[0].NvrtcPath);
                json.WriteStartArray("targets");
                foreach (var r in reports)
                {
                    json.WriteStartObject();
                    json.WriteString("arch", $"sm_{r.RequestedArchitecture}");
                    json.WriteString("target", r.Target);
                    json.WriteBoolean("machine_code", r.MachineCode);
                    if (r.Note is not null) json.WriteString("note", r.Note);
                    json.WriteStartArray("files");
                    foreach (var f in r.Files)
                    {
                        json.WriteStartObject();
                        json.WriteString("file", f.File);
                        if (f.Error is not null) json.WriteString("error", f.Error);
                        json.WriteStartArray("kernels");
                        foreach (var k in f.Kernels)
                        {
                            json.WriteStartObject();
                            json.WriteString("kernel", k.Kernel);
                            json.WriteNumber("registers", k.Registers);
                            json.WriteNumber("shared_bytes", k.SharedBytes);
                            json.WriteNumber("stack_bytes", k.StackBytes);
                            json.WriteNumber("spill_store_bytes", k.SpillStoreBytes);
                            json.WriteNumber("spill_load_bytes", k.SpillLoadBytes);
                            json.WriteEndObject();
                        }
                        json.WriteEndArray();
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteBoolean("passed", !failed);
                json.WriteEndObject();
            }, indented: true);
        }
        else
        {
            foreach (var r in reports)
            {
                output.WriteLine($"NVRTC {r.NvrtcVersion} ({r.NvrtcPath}) → {r.Target}{(r.MachineCode ? " machine code" : " PTX")}");
                if (r.Note is not null) output.WriteLine($"  note: {r.Note}");
                output.WriteLine($"  {"file",-22} {"kernel",-32} {"regs",4} {"shared",7} {"stack",6} {"spill st/ld",12}");
                foreach (var f in r.Files)
                {
                    if (f.Error is not null)
                    {
                        output.WriteLine($"  {f.File,-22} COMPILE ERROR:");
                        foreach (string line in f.Error.Split('\n')) output.WriteLine("      " + line);
                        continue;
                    }
                    foreach (var k in f.Kernels)
                        output.WriteLine($"  {f.File,-22} {k.Kernel,-32} {k.Registers,4} {k.SharedBytes,7} {k.StackBytes,6} " +
                                         $"{k.SpillStoreBytes,5} / {k.SpillLoadBytes,-5}{(k.Spills ? "  SPILLS" : "")}");
                }
                int kernels = r.Files.Sum(f => f.Kernels.Count);
                output.WriteLine($"  {r.Files.Count} files, {kernels} kernels: " +
                                 (r.AllCompiled ? "all compiled" : $"{r.Files.Count(f => f.Error is not null)} failed to compile") +
                                 (r.AnySpills ? ", SPILLS" : r.MachineCode ? ", no spills" : ""));
                output.WriteLine($"  (mezo_attention also takes {AttentionSharedNote()} of dynamic shared memory)");
            }
        }
        if (failed) Console.Error.WriteLine("mezo verify: a kernel failed to compile or spills registers (see above)");
        return failed ? 1 : 0;
    }

    private static string AttentionSharedNote() =>
        string.Join(", ", new[] { 64, 128, 256 }.Select(d => $"{KernelCompilation.AttentionSharedBytes(d) / 1024.0:F1} KiB at D={d}"));

    private int Parity(ParseResult result, TextWriter output)
    {
        string? model = ModelOptions.Resolve(result.GetValue(_model), result.GetValue(_revision));
        if (model is not null && !Directory.Exists(model)) throw Error($"--model {model}: no such folder");
        var environment = CudaBackendOptions.FromEnvironment();
        var configurations = new (string Name, CudaBackendOptions Options)[]
        {
            ("mixed-precision products (cuBLASLt where installed), exact z", environment with { Precision = MatmulPrecision.Mixed, Noise = NoiseArithmetic.Exact }),
            ("float32 products, fast z", environment with { Precision = MatmulPrecision.Float32, Noise = NoiseArithmetic.Fast }),
            ("NVRTC tensor-core products (no cuBLASLt), exact z", environment with { Precision = MatmulPrecision.Mixed, UseCublasLt = false }),
        };
        string scratch = Path.Combine(Path.GetTempPath(), $"mezo-verify-{Environment.ProcessId}");
        var results = new List<(string Configuration, ParityResult Result)>();
        bool json = result.GetValue(_json);
        string device = "";
        try
        {
            var models = TinyModels.Write(scratch).ToList();
            if (model is not null) models.Add(model);
            using var cpu = new CpuBackend();
            foreach (var (name, options) in configurations)
            {
                using var cuda = CudaBackend.Create(options);
                device = cuda.Description;
                if (!json) output.WriteLine($"{cuda.Description}\n== {name}");
                void Report(ParityResult r)
                {
                    results.Add((name, r));
                    if (!json) output.WriteLine("  " + r);
                }
                foreach (var r in BackendParity.RunAll(cpu, cuda)) Report(r);
                foreach (var r in GpuOnlyChecks.RunAll(cuda)) Report(r);
                foreach (string m in models)
                {
                    try
                    {
                        // float32 activations, then the 16-bit forward pass against the CPU's rounding points.
                        foreach (var compute in new[] { DType.F32, DType.BF16 })
                        {
                            Report(ModelParity.Logits(m, cpu, cuda, compute: compute));
                            Report(ModelParity.MezoStep(m, cpu, cuda, compute: compute));
                        }
                        foreach (var adapter in new[] { AdapterUnderTest.Lora, AdapterUnderTest.Prefix })
                        {
                            Report(ModelParity.Logits(m, cpu, cuda, adapter: adapter));
                            Report(ModelParity.MezoStep(m, cpu, cuda, adapter: adapter));
                        }
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Report(new ParityResult("Transformer", Path.GetFileName(m), false, double.NaN, 0, $"{e.GetType().Name}: {e.Message}"));
                    }
                }
            }
        }
        finally
        {
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        int failures = results.Count(r => !r.Result.Passed);
        if (json)
        {
            JsonOutput.Write(j =>
            {
                j.WriteStartObject();
                j.WriteString("device", device);
                j.WriteNumber("checks", results.Count);
                j.WriteNumber("failures", failures);
                j.WriteStartArray("results");
                foreach (var (configuration, r) in results)
                {
                    j.WriteStartObject();
                    j.WriteString("configuration", configuration);
                    j.WriteString("operation", r.Operation);
                    j.WriteString("case", r.Case);
                    j.WriteBoolean("passed", r.Passed);
                    WriteNumber(j, "max_error", r.MaxError);
                    WriteNumber(j, "tolerance", r.Tolerance);
                    if (r.Detail.Length > 0) j.WriteString("detail", r.Detail);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }, indented: true);
        }
        else
        {
            output.WriteLine($"{results.Count} checks, {failures} failed");
        }
        if (failures > 0) Console.Error.WriteLine($"mezo verify: {failures} of {results.Count} GPU checks failed");
        return failures > 0 ? 1 : 0;
    }

    private int Bench(ParseResult result, TextWriter output)
    {
        string directory = Required(result, _bench);
        int batch = result.GetValue(_batchSize) ?? 16, length = result.GetValue(_length) ?? 256, steps = result.GetValue(_steps) ?? 3;
        if (batch <= 0 || length < 2 || steps <= 0) throw Error("--batch-size and --steps must be positive and --length at least 2");
        DType? storage = result.GetValue(_dtype);
        using var cuda = CudaBackend.Create();
        using var model = Transformer.Load(directory, cuda, storage);
        var r = StepBenchmark.Run(model, batch, length, steps);
        var memory = cuda.DeviceMemory;
        if (result.GetValue(_json))
        {
            JsonOutput.Write(j =>
            {
                j.WriteStartObject();
                j.WriteString("device", cuda.Description);
                j.WriteString("model", r.Model);
                j.WriteNumber("parameters", r.Parameters);
                j.WriteNumber("weight_bytes", r.WeightBytes);
                j.WriteNumber("batch", r.Batch);
                j.WriteNumber("length", r.Length);
                j.WriteNumber("steps", r.Steps);
                j.WriteNumber("forward_seconds", r.ForwardSeconds);
                j.WriteNumber("tokens_per_second", r.TokensPerSecond);
                j.WriteNumber("step_seconds", r.StepSeconds);
                j.WriteNumber("update_pass_seconds", r.UpdateSeconds);
                j.WriteNumber("step_over_two_forwards", r.StepOverTwoForwards);
                j.WriteNumber("inference_peak_bytes", r.InferencePeakBytes);
                j.WriteNumber("training_peak_bytes", r.TrainingPeakBytes);
                j.WriteNumber("training_over_inference_memory", r.TrainingOverInferenceMemory);
                j.WriteNumber("device_used_bytes", memory.Total - memory.Free);
                j.WriteString("matmul_precision", cuda.Options.Precision.ToString().ToLowerInvariant());
                j.WriteString("noise", cuda.Options.Noise.ToString().ToLowerInvariant());
                j.WriteEndObject();
            }, indented: true);
            return 0;
        }
        StepBench.Write(r, cuda.Description, output);
        output.WriteLine($"  device in use     {Units.Bytes(memory.Total - memory.Free)}");
        return 0;
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }
}
