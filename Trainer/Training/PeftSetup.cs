using MeZO.Engine;
using MeZO.Engine.Adapters;
using MeZO.Engine.Mezo;
using MeZO.Engine.Models;

namespace MeZO.Trainer.Training;

/// <summary>
/// The adapter a session's model computes with: a saved PEFT folder (<see cref="SessionOptions.Adapter"/>), or a new one
/// for training (<see cref="SessionOptions.Peft"/>), initialised from the run seed as PEFT initialises it, so a replay
/// or a resume rebuilds the same starting adapter. Attached before any workspace is made.
/// </summary>
public static class PeftSetup
{
    public static IAdapter? Attach(Transformer model, SessionOptions options)
    {
        if (options.Adapter is not null && options.Peft is not null)
            throw new InvalidInputException("--adapter applies a saved adapter; --peft trains a new one: give one of them");
        if (options.Adapter is { } folder) return Apply(model, folder);
        IAdapter? adapter = options.Peft switch
        {
            PeftKind.Lora => NewLora(model, options),
            PeftKind.Prefix => NewPrefix(model, options),
            null => null,
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Peft, "unknown adapter kind"),
        };
        if (adapter is not null) AttachTo(model, adapter);
        return adapter;
    }

    /// <summary>Loads a saved adapter folder and attaches it to the model, unmerged; the caller disposes it after the model's last use.</summary>
    public static IAdapter Apply(Transformer model, string folder)
    {
        var adapter = Load(model, folder);
        AttachTo(model, adapter);
        return adapter;
    }

    private static void AttachTo(Transformer model, IAdapter adapter)
    {
        switch (adapter)
        {
            case LoraAdapter lora:
                model.Lora = lora;
                break;
            case PrefixAdapter prefix:
                model.Prefix = prefix;
                break;
            default:
                throw new ArgumentException($"a {adapter.Kind} adapter cannot be attached", nameof(adapter));
        }
    }

    /// <summary>
    /// What trains: the adapter's tensors, or the model's parameters (those <paramref name="nameFilter"/> matches; all
    /// when null). A filter beside an adapter is refused: it would pick base weights that stay frozen.
    /// </summary>
    public static TrainableSet Trainable(Transformer model, IAdapter? adapter, string? nameFilter)
    {
        if (adapter is null) return TrainableSet.Select(model.Weights, nameFilter);
        if (!string.IsNullOrEmpty(nameFilter))
            throw new InvalidInputException("--trainable picks the model's own weights to train; with --peft only the adapter trains: give one of them");
        return TrainableSet.Of(adapter.Parameters);
    }

    /// <summary>A saved adapter folder of either kind, checked against the model (AdapterFolder names what does not fit).</summary>
    public static IAdapter Load(Transformer model, string folder) => AdapterFolder.Describe(folder).Kind switch
    {
        AdapterKind.Lora => AdapterFolder.LoadLora(folder, model),
        AdapterKind.Prefix => AdapterFolder.LoadPrefix(folder, model),
        var kind => throw new ArgumentOutOfRangeException(nameof(folder), kind, "unknown adapter kind"),
    };

    /// <summary>
    /// The MeZO paper's prefix: the keys and values the model itself makes for P tokens drawn from the vocabulary with
    /// the run seed, so the prefix starts as real activations and a replay rebuilds it on the same backend.
    /// </summary>
    private static PrefixAdapter NewPrefix(Transformer model, SessionOptions options)
    {
        if (options.PrefixTokens <= 0) throw new InvalidInputException($"--prefix-tokens must be positive (got {options.PrefixTokens})");
        return PrefixAdapter.FromActivations(model, AdapterInit.Tokens(options.Seed, options.PrefixTokens, model.Spec.VocabSize));
    }

    private static LoraAdapter NewLora(Transformer model, SessionOptions options)
    {
        var adapter = LoraAdapter.Create(model, options.LoraSettings());
        adapter.InitializeAsPeft(options.Seed);
        return adapter;
    }
}
