using System.Text.Json.Serialization;

namespace MeZO.Trainer.Training;

/// <summary>What the ranks of a data-parallel MeZO job share out in each step (`--distribute`).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DistributeKind>))]
public enum DistributeKind
{
    /// <summary>Each rank runs a contiguous share of the step's forward calls (micro-batches); the ranks gather the per-sequence sums.</summary>
    Batch,

    /// <summary>Each rank evaluates some of the step's n samples on the whole batch; the ranks gather each sample's (L+, L−).</summary>
    Samples,
}
