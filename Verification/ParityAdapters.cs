using MeZO.Engine.Tensors;
using MeZO.Engine.Adapters;
using MeZO.Engine.Models;

namespace MeZO.Verification;

/// <summary>An adapter a model parity check attaches to both backends' models, or none.</summary>
public enum AdapterUnderTest
{
    None,
    /// <summary>LoRA of rank 4, α 8, on every projection, with random non-zero A and B (a fresh adapter's B = 0 adds nothing).</summary>
    Lora,
    /// <summary>A prefix of 3 virtual tokens with random keys and values.</summary>
    Prefix,
}

/// <summary>The same adapter, value for value, on each backend's model: what a parity check needs to compare the adapted passes.</summary>
internal static class ParityAdapters
{
    public static string Describe(AdapterUnderTest adapter) => adapter switch
    {
        AdapterUnderTest.Lora => "LoRA r 4 on every projection",
        AdapterUnderTest.Prefix => "a 3-token prefix",
        _ => "no adapter",
    };

    /// <summary>Attaches the adapter (null for none); its values depend only on the model's shapes, never on the backend.</summary>
    public static IAdapter? Attach(Transformer model, AdapterUnderTest adapter)
    {
        var random = new ParityRandom(4242);
        switch (adapter)
        {
            case AdapterUnderTest.Lora:
                var targets = LoraTargets.Adaptable(model.Weights).Select(m => m.Path[(m.Path.LastIndexOf('.') + 1)..]).Distinct().ToArray();
                var lora = LoraAdapter.Create(model, new LoraConfig(4, 8, targets));
                // Scaled so the bypass is of the order of the projection it joins (x·Aᵀ·Bᵀ·α/r with unit x).
                foreach (var p in lora.Parameters) HostValues.Write(p.Tensor, random.Normal(p.Tensor.ElementCount, 1 / Math.Sqrt(p.Tensor.Shape[-1] * 8.0)));
                model.Lora = lora;
                return lora;
            case AdapterUnderTest.Prefix:
                var prefix = PrefixAdapter.Create(model.Spec, model.Backend, 3);
                prefix.Upload(random.Normal(prefix.ElementCount));
                model.Prefix = prefix;
                return prefix;
            default:
                return null;
        }
    }
}
