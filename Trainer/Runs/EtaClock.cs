namespace MeZO.Trainer.Runs;

/// <summary>
/// The time training steps take, what an ETA may divide by: from the first progress report on (the steps before it
/// are warm-up: compilation, first allocations; loading the model comes before it), and without the time of other
/// work (validation, test) between steps. Times are given, not read, so the arithmetic is tested on a timeline.
/// </summary>
public sealed class EtaClock
{
    private long _lastStep = -1, _steps;
    private TimeSpan _resumedAt, _training;
    private bool _paused;

    /// <summary>Training reached <paramref name="step"/> at <paramref name="now"/>.</summary>
    public void Step(long step, TimeSpan now)
    {
        if (_lastStep < 0)
        {
            (_lastStep, _resumedAt, _paused) = (step, now, false);
            return;
        }
        if (_paused)
        {
            // A pass that did not report its end: the steps since it began took an unknown share of the time; skip them.
            (_lastStep, _resumedAt, _paused) = (step, now, false);
            return;
        }
        _training += now - _resumedAt;
        _steps += step - _lastStep;
        (_lastStep, _resumedAt) = (step, now);
    }

    /// <summary>Other work began at <paramref name="now"/>: its time is not the steps'.</summary>
    public void Pause(TimeSpan now)
    {
        if (_paused || _lastStep < 0) return;
        _training += now - _resumedAt;
        _paused = true;
    }

    /// <summary>The other work ended at <paramref name="now"/>: steps run again.</summary>
    public void Resume(TimeSpan now)
    {
        if (!_paused) return;
        (_resumedAt, _paused) = (now, false);
    }

    /// <summary>Steps per second of training alone, once a report after the first has measured some; else null.</summary>
    public double? StepsPerSecond => _steps > 0 && _training > TimeSpan.Zero ? _steps / _training.TotalSeconds : null;

    /// <summary>The time left for the steps after <paramref name="step"/> up to <paramref name="totalSteps"/>, or null before it is known.</summary>
    public TimeSpan? Remaining(long step, long totalSteps) =>
        StepsPerSecond is { } rate ? TimeSpan.FromSeconds(Math.Max(0, totalSteps - step) / rate) : null;
}
