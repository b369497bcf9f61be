namespace MeZO.Trainer.Tasks;

/// <summary>
/// The examples of one run: <see cref="Train"/> to train on, <see cref="Validation"/> to pick the best checkpoint,
/// <see cref="Test"/> to report. <see cref="Notes"/> says where fewer examples than asked were available (one line each);
/// it is empty when every request was met. <see cref="Files"/> holds the SHA-256 of each data file read, by its name in the
/// data folder: what the examples depend on. <see cref="TestDemonstrations"/> holds, for each test example, the in-context
/// demonstrations to put before it (<see cref="Demonstrations.Draw"/>; empty sets when none were asked).
/// </summary>
public sealed record SampledSplits(
    IReadOnlyList<TaskExample> Train,
    IReadOnlyList<TaskExample> Validation,
    IReadOnlyList<TaskExample> Test,
    IReadOnlyList<string> Notes,
    IReadOnlyDictionary<string, string> Files,
    IReadOnlyList<IReadOnlyList<TaskExample>> TestDemonstrations);
