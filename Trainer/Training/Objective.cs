using System.Text.Json.Serialization;

namespace MeZO.Trainer.Training;

/// <summary>The training objective: the differentiable loss, or a non-differentiable metric only a ZO method can optimise.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Objective>))]
public enum Objective
{
    Loss,
    Accuracy,
    F1,
}
