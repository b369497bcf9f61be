using MeZO.Engine.Backends;

namespace MeZO.Engine.Models.Streaming;

/// <summary>
/// How a model runs when its weights do not fit the compute backend (ZO2's offloading): the decoder layers' parameters
/// stay on <paramref name="Host"/>, which owns and updates them, and each layer is copied to the compute backend just
/// before it runs, into one of two slots, so the next layer's copy can overlap this one's compute. The compute backend
/// then holds the rest of the model (embeddings, final norm, LM head), the two slots and the workspaces, which must
/// fit <paramref name="DeviceBudget"/> bytes. Streaming changes where bytes live, never a result: a streamed run is
/// bit-identical to the resident one.
/// </summary>
/// <param name="Host">the backend that keeps the layers (the CPU; the caller owns and disposes it)</param>
/// <param name="DeviceBudget">the most bytes the compute backend may hold, as its <see cref="Backends.MemoryReport"/> counts them</param>
public sealed record LayerStreaming(IBackend Host, long DeviceBudget);
