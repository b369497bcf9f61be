using MeZO.Engine.Backends;
using MeZO.Engine.Models;
using MeZO.Engine.Tensors;

namespace MeZO.Engine.Adapters;

/// <summary>
/// LoRA on a frozen model: for each targeted projection W, y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ, with A (r, in) and B (out, r)
/// in one allocation of their own. The base weights are only read; the adapter's tensors are the trainable set
/// (<see cref="Parameters"/>, in PEFT's names and ordinal order, which is the order of MeZO's z over them).
/// </summary>
public sealed class LoraAdapter : IAdapter
{
    private const int Alignment = 64;
    private readonly Tensor _arena;
    private readonly Dictionary<Tensor, LoraModule> _byBase;

    private LoraAdapter(LoraConfig config, IReadOnlyList<string> targetNames, DType type, Tensor arena, IReadOnlyList<LoraModule> modules)
    {
        Config = config;
        TargetNames = targetNames;
        DType = type;
        _arena = arena;
        Modules = modules;
        _byBase = modules.ToDictionary<LoraModule, Tensor>(m => m.Base, ReferenceEqualityComparer.Instance);
        Parameters = modules.SelectMany(m => new[] { new NamedTensor(m.NameA, m.A), new NamedTensor(m.NameB, m.B) })
            .OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
    }

    public AdapterKind Kind => AdapterKind.Lora;
    public LoraConfig Config { get; }

    /// <summary>target_modules as PEFT must read them on this architecture (<see cref="LoraTargets.Names"/>).</summary>
    public IReadOnlyList<string> TargetNames { get; }
    public DType DType { get; }
    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Every A and B in ordinal name order.</summary>
    public IReadOnlyList<NamedTensor> Parameters { get; }

    public int Rank => Config.Rank;

    /// <summary>The widest adapted projection's output: the size of the bypass's scratch row.</summary>
    public int MaxOutput => Modules.Max(m => m.OutFeatures);

    public long ParameterCount => Parameters.Sum(p => p.Tensor.ElementCount);
    public long Bytes => _arena.ByteCount;

    /// <summary>The adaptation of a base weight the forward pass reads, or null when it has none (by reference).</summary>
    public LoraModule? Find(Tensor baseWeight) => _byBase.GetValueOrDefault(baseWeight);

    /// <summary>
    /// An adapter on <paramref name="model"/>'s targeted projections with A and B zero; <see cref="InitializeAsPeft"/>
    /// or an upload gives them values.
    /// </summary>
    public static LoraAdapter Create(Transformer model, LoraConfig config, DType type = DType.F32)
    {
        if (!type.IsFloatingPoint()) throw new ArgumentException($"a LoRA adapter is stored as F32, F16 or BF16, not {type}", nameof(type));
        var targets = LoraTargets.Resolve(model.Weights, config, model.Directory);
        int r = config.Rank;
        long bytes = 0;
        var offsets = new List<(long A, long B)>();
        foreach (var t in targets)
        {
            long a = bytes;
            bytes += Aligned((long)r * t.InFeatures * type.SizeOf());
            offsets.Add((a, bytes));
            bytes += Aligned((long)t.OutFeatures * r * type.SizeOf());
        }
        const int RowBytes = 4096;
        var arena = model.Backend.Allocate(new TensorShape(checked((int)Math.Max(1, (bytes + RowBytes - 1) / RowBytes)), RowBytes / 4),
            DType.I32, MemoryCategory.Adapter, "lora");
        try
        {
            var modules = targets.Select((t, i) => new LoraModule(t.Path, t.Layer, t.Base, model.Spec.TransposedWeights, t.InFeatures, t.OutFeatures,
                arena.ViewBytes(offsets[i].A, new TensorShape(r, t.InFeatures), type, PeftNames.LoraA(t.Path)),
                arena.ViewBytes(offsets[i].B, new TensorShape(t.OutFeatures, r), type, PeftNames.LoraB(t.Path)))).ToArray();
            var adapter = new LoraAdapter(config, LoraTargets.Names(model.Spec, config), type, arena, modules);
            foreach (var p in adapter.Parameters) Fill(p.Tensor, 0f);
            return adapter;
        }
        catch
        {
            arena.Dispose();
            throw;
        }
    }

    /// <summary>
    /// PEFT's initialisation, deterministically from <paramref name="seed"/>: B = 0 (the adapted model starts as the
    /// base) and A Kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in), each element from its own Philox counter
    /// (<see cref="AdapterInit"/>), so a replay or a resume rebuilds the same A on any backend.
    /// </summary>
    public void InitializeAsPeft(ulong seed)
    {
        ulong index = 0;
        foreach (var m in Modules.OrderBy(m => m.NameA, StringComparer.Ordinal))
        {
            var values = new float[m.A.ElementCount];
            AdapterInit.Uniform(seed, index, 1 / Math.Sqrt(m.InFeatures), values);
            index += (ulong)values.Length;
            HostValues.Write(m.A, values);
            Fill(m.B, 0f);
        }
    }

    public void Save(string directory, string baseModel, IEnumerable<string> extraFiles) =>
        AdapterFolder.SaveLora(directory, this, baseModel, extraFiles);

    private static void Fill(Tensor tensor, float value) => HostValues.Write(tensor, Enumerable.Repeat(value, checked((int)tensor.ElementCount)).ToArray());

    private static long Aligned(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    public void Dispose() => _arena.Dispose();
}
