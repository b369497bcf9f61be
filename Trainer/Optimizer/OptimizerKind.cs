namespace MeZO.Trainer.Optimizer;

/// <summary>How a run updates its weights: MeZO's zeroth-order SGD (forward passes only), or backprop with SGD or AdamW.</summary>
public enum OptimizerKind
{
    ZoSgd,
    Sgd,
    AdamW,
}
