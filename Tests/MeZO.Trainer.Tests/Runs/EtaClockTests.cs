using MeZO.Trainer.Runs;
using NUnit.Framework;

namespace MeZO.Trainer.Tests.Runs;

/// <summary>
/// The ETA of a run that loads for 100 s, warms up, then steps at 2 steps/s with validations of 30 s between: the
/// remaining time must be the remaining steps at 2 steps/s, whatever the loading and the validations took (the
/// 2-minute run that once showed 1 h 24 min).
/// </summary>
public class EtaClockTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Test]
    public void LoadingWarmUpAndValidationAreLeftOut()
    {
        var clock = new EtaClock();
        Assert.That(clock.Remaining(0, 100), Is.Null, "nothing measured yet");
        // Loading and the warm-up steps 0-10 take until t = 130; the first report starts the measurement.
        clock.Step(10, S(130));
        Assert.That(clock.Remaining(10, 100), Is.Null, "one report measures nothing");
        clock.Step(20, S(135));
        clock.Pause(S(135));   // a validation pass
        clock.Resume(S(165));
        clock.Step(30, S(170));
        clock.Step(40, S(175));
        Assert.That(clock.StepsPerSecond, Is.EqualTo(2.0).Within(1e-12));
        Assert.That(clock.Remaining(40, 100)!.Value.TotalSeconds, Is.EqualTo(30).Within(1e-9));
    }

    [Test]
    public void AStepReportedDuringAPauseEndsIt()
    {
        var clock = new EtaClock();
        clock.Step(0, S(0));
        clock.Step(10, S(5));
        clock.Pause(S(5));
        clock.Step(20, S(60));  // the pass never said it ended: its time is still not counted
        clock.Step(30, S(65));
        Assert.That(clock.StepsPerSecond, Is.EqualTo(20 / 10.0).Within(1e-12));
    }
}
