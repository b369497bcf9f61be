namespace MeZO.Engine.Mezo;

/// <summary>
/// One tensor's share of one sample's update (<see cref="MezoStep.Update"/>): the backend's MezoUpdate call with its
/// arguments, so it can run now or, for a streamed layer, later (<see cref="Models.Streaming.PendingUpdates"/>) with the
/// same bits.
/// </summary>
/// <param name="Overflow">turns the backend's OverflowException into the caller's error (one naming the step), or null</param>
internal readonly record struct TensorUpdate(Tensor Weight, TensorNoise Noise, UpdateFactors Factors, Func<OverflowException, Exception>? Overflow)
{
    public void Run()
    {
        try
        {
            Weight.Backend.MezoUpdate(Weight, Noise, Factors);
        }
        catch (OverflowException e) when (Overflow is not null)
        {
            throw Overflow(e);
        }
    }
}
