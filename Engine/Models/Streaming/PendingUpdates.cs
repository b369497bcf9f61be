using MeZO.Engine.Mezo;

namespace MeZO.Engine.Models.Streaming;

/// <summary>
/// The MeZO updates of a streamed model's decoder layers, held on the host until the layer is next read (ZO2's
/// overlap): <see cref="StreamedLayers"/> applies layer l's just before it copies layer l to the device, and starts the
/// layer after next on a worker thread, so the CPU updates while the device computes and copies. Each layer keeps its
/// updates in the order they were made (n samples: n per tensor, in sample order), and each runs the very MezoUpdate
/// call it would have run at once, so the weights end bit for bit as if updated immediately. Anything else that reads
/// or writes the host weights first calls <see cref="ApplyAll"/> (<see cref="ModelWeights.ApplyPendingUpdates"/>).
/// </summary>
internal sealed class PendingUpdates
{
    private readonly Dictionary<Tensor, int> _layerOf = new(ReferenceEqualityComparer.Instance);
    private readonly Queue<TensorUpdate>[] _queues; // per layer, in the order the updates were made
    private Task _worker = Task.CompletedTask;      // at most one layer's updates in the background at a time

    public PendingUpdates(IReadOnlyList<LayerWeights> layers)
    {
        _queues = new Queue<TensorUpdate>[layers.Count];
        for (int l = 0; l < layers.Count; l++)
        {
            _queues[l] = new Queue<TensorUpdate>();
            foreach (var t in layers[l].Tensors) _layerOf.Add(t, l);
        }
    }

    /// <summary>The updates not yet applied (after the worker's, which it waits for).</summary>
    public int Count
    {
        get
        {
            Await();
            return _queues.Sum(q => q.Count);
        }
    }

    /// <summary>Queues <paramref name="update"/> when its tensor is a layer's; false for any other tensor, which updates at once.</summary>
    public bool Defer(TensorUpdate update)
    {
        if (!_layerOf.TryGetValue(update.Weight, out int l)) return false;
        Await();
        _queues[l].Enqueue(update);
        return true;
    }

    /// <summary>Layer <paramref name="l"/>'s updates, now: its host tensors then hold what the next forward pass must read.</summary>
    public void Apply(int l)
    {
        Await();
        Run(_queues[l]);
    }

    /// <summary>Starts layer <paramref name="l"/>'s updates on a worker thread; the next call here waits for them and raises their error.</summary>
    public void ApplyInBackground(int l)
    {
        Await();
        var queue = _queues[l];
        if (queue.Count > 0) _worker = Task.Run(() => Run(queue));
    }

    /// <summary>Every pending update, layer by layer.</summary>
    public void ApplyAll()
    {
        Await();
        foreach (var queue in _queues) Run(queue);
    }

    /// <summary>
    /// Waits for the worker, which writes host weights about to be freed, without raising its error: the only worker not
    /// yet waited for is one a forward call started before it failed, whose error is already on its way. What is still
    /// queued goes with the weights.
    /// </summary>
    public void Abandon()
    {
        Task.WaitAny(_worker); // returns, unlike Wait, when the worker failed
        foreach (var queue in _queues) queue.Clear();
    }

    /// <summary>Waits for the worker and raises its error as the update threw it (a WeightOverflowException naming the step).</summary>
    private void Await()
    {
        var worker = _worker;
        _worker = Task.CompletedTask;
        worker.GetAwaiter().GetResult();
    }

    /// <summary>An update leaves the queue before it runs: one that failed midway is not run again on the torn weights.</summary>
    private static void Run(Queue<TensorUpdate> queue)
    {
        while (queue.TryDequeue(out var update)) update.Run();
    }
}
