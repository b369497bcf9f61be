using System.Globalization;
using MeZO.Engine;
using MeZO.Engine.Backends;
using MeZO.Engine.Checkpoints;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;
using MeZO.Engine.Models.Gradients;
using MeZO.Engine.Tensors;

namespace MeZO.Trainer.Optimizer;

/// <summary>
/// Backprop's optimizers, SGD and AdamW as torch.optim defines them, over a <see cref="TrainableSet"/>: what MeZO's
/// memory is compared with. AdamW keeps two float32 moments per weight; a 16-bit weight also keeps a float32 master
/// copy that takes the steps (mixed precision), all in <see cref="MemoryCategory.OptimizerState"/>. Weight decay skips
/// biases and norm weights, as Hugging Face's Trainer groups them. Gradients are clipped to a global norm when asked,
/// as the Trainer's max_grad_norm does. Step t (0-based) is AdamW's step t + 1, so a resumed run continues its bias
/// corrections from the step alone.
/// </summary>
public sealed class FirstOrderOptimizer : IDisposable
{
    public const string StateFileName = "optimizer.safetensors";

    private readonly IOptimizerOps _ops;
    private readonly OptimizerKind _kind;
    private readonly double _weightDecay, _beta1, _beta2, _eps, _maxGradNorm;
    private readonly List<Entry> _entries = [];

    public FirstOrderOptimizer(TrainableSet trainable, IBackend backend, OptimizerKind kind, double weightDecay, double beta1, double beta2,
        double eps, double maxGradNorm)
    {
        if (kind == OptimizerKind.ZoSgd) throw new ArgumentOutOfRangeException(nameof(kind), "ZO-SGD is ZerothOrderSgd");
        _ops = backend as IOptimizerOps
               ?? throw new NotSupportedException($"--optimizer {Spelling(kind)} needs a backend with optimizer ops (the CPU and CUDA ones); {backend.Name} has none");
        (_kind, _weightDecay, _beta1, _beta2, _eps, _maxGradNorm) = (kind, weightDecay, beta1, beta2, eps, maxGradNorm);
        try
        {
            foreach (var t in trainable.Tensors)
            {
                var p = t.Parameter;
                Tensor State(string what) =>
                    backend.Allocate(p.Tensor.Shape, DType.F32, MemoryCategory.OptimizerState, $"{what}.{p.Name}");
                Tensor? master = null, m = null, v = null;
                if (p.Tensor.DType != DType.F32)
                {
                    master = State("master");
                    _ops.WidenToMaster(p.Tensor, master);
                }
                // Backends allocate zero-filled: the moments start at zero, as torch's do.
                if (kind == OptimizerKind.AdamW)
                {
                    m = State("exp_avg");
                    v = State("exp_avg_sq");
                }
                _entries.Add(new Entry(p, t.TakesWeightDecay, master, m, v));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The command line's name of an optimizer.</summary>
    public static string Spelling(OptimizerKind kind) => kind switch
    {
        OptimizerKind.ZoSgd => "zo-sgd",
        OptimizerKind.Sgd => "sgd",
        OptimizerKind.AdamW => "adamw",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The engine's name of the method, for its memory estimate.</summary>
    public static TrainingMethod Method(OptimizerKind kind) => kind switch
    {
        OptimizerKind.ZoSgd => TrainingMethod.Mezo,
        OptimizerKind.Sgd => TrainingMethod.Sgd,
        OptimizerKind.AdamW => TrainingMethod.AdamW,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public long Bytes => _entries.Sum(e => (e.Master?.ByteCount ?? 0) + (e.M?.ByteCount ?? 0) + (e.V?.ByteCount ?? 0));

    /// <summary>
    /// Step <paramref name="step"/> at rate <paramref name="learningRate"/> from the gradients (clipped first when a
    /// maximum norm is set); returns the gradient's global norm before clipping.
    /// </summary>
    /// <exception cref="NonFiniteGradientException">a gradient element is NaN or ±∞: nothing is updated.</exception>
    public double Step(ModelGradient gradients, long step, double learningRate, double loss)
    {
        double squares = 0;
        foreach (var e in _entries) squares += _ops.SumOfSquares(GradientOf(gradients, e));
        double norm = Math.Sqrt(squares);
        if (!double.IsFinite(norm)) throw new NonFiniteGradientException(step, loss);
        if (_maxGradNorm > 0 && norm > _maxGradNorm)
        {
            // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6).
            float factor = (float)(_maxGradNorm / (norm + 1e-6));
            foreach (var e in _entries) _ops.Scale(GradientOf(gradients, e), factor);
        }
        foreach (var e in _entries)
        {
            double decay = e.TakesWeightDecay ? _weightDecay : 0;
            if (_kind == OptimizerKind.AdamW)
                _ops.AdamWUpdate(e.Parameter.Tensor, e.Master, GradientOf(gradients, e), e.M!, e.V!,
                    AdamWFactors.For(learningRate, _beta1, _beta2, _eps, decay, step + 1));
            else
                _ops.SgdUpdate(e.Parameter.Tensor, e.Master, GradientOf(gradients, e), (float)learningRate, (float)decay);
        }
        return norm;
    }

    /// <summary>Writes the state after <paramref name="completedSteps"/> steps to <paramref name="path"/> (atomically).</summary>
    public void Save(string path, long completedSteps)
    {
        var metadata = new Dictionary<string, string>
        {
            ["optimizer"] = Spelling(_kind),
            ["completed_steps"] = completedSteps.ToString(CultureInfo.InvariantCulture),
        };
        TensorSetFile.Save(path, StateTensors(), metadata);
    }

    /// <summary>Reads back the state <see cref="Save"/> wrote after <paramref name="completedSteps"/> steps.</summary>
    /// <exception cref="InvalidInputException">the file is missing, damaged, another optimizer's or another step's.</exception>
    public void Restore(string path, long completedSteps)
    {
        var metadata = TensorSetFile.Restore(path, StateTensors());
        if (metadata.GetValueOrDefault("optimizer") != Spelling(_kind))
            throw new InvalidInputException($"{path}: the state of --optimizer {metadata.GetValueOrDefault("optimizer") ?? "(none)"}, not {Spelling(_kind)}");
        if (metadata.GetValueOrDefault("completed_steps") != completedSteps.ToString(CultureInfo.InvariantCulture))
            throw new InvalidInputException($"{path}: the state after {metadata.GetValueOrDefault("completed_steps") ?? "(unknown)"} steps, not {completedSteps}");
    }

    /// <summary>Whether a checkpoint of this optimizer holds a state file (none for plain SGD on float32 weights).</summary>
    public bool HasState => _entries.Any(e => e.Master is not null || e.M is not null);

    private List<NamedTensor> StateTensors()
    {
        var tensors = new List<NamedTensor>();
        foreach (var e in _entries)
        {
            if (e.Master is not null) tensors.Add(new NamedTensor($"master.{e.Parameter.Name}", e.Master));
            if (e.M is not null) tensors.Add(new NamedTensor($"exp_avg.{e.Parameter.Name}", e.M));
            if (e.V is not null) tensors.Add(new NamedTensor($"exp_avg_sq.{e.Parameter.Name}", e.V));
        }
        return tensors;
    }

    private static Tensor GradientOf(ModelGradient gradients, Entry e) =>
        gradients.GradientOf(e.Parameter.Tensor) ?? throw new InvalidOperationException($"no gradient for '{e.Parameter.Name}'");

    public void Dispose()
    {
        foreach (var e in _entries)
        {
            e.Master?.Dispose();
            e.M?.Dispose();
            e.V?.Dispose();
        }
        _entries.Clear();
    }

    private sealed record Entry(NamedTensor Parameter, bool TakesWeightDecay, Tensor? Master, Tensor? M, Tensor? V);
}
