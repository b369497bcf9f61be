using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// Draws the train, validation and test examples of a run as the MeZO paper does (large_models/tasks.py,
/// sample_train_sets and sample_subset; run.py): trainExamples + evalExamples are drawn together from the official
/// training split and the validation set is the last evalExamples of them; the test examples are drawn from the official
/// validation split. A task with a validation split of its own (<see cref="ITask.LoadValidation"/>: the jsonl task's
/// validation.jsonl) draws train from the training split and validation from that split instead, each the first k of its
/// own permutation. Each draw is the first k of a <see cref="Permutation.Random"/> of its split with the run's seed
/// (MeZO seeds both draws with the same train_set_seed too); MeZO uses numpy's permutation, so the examples differ from
/// the paper's, but the procedure is the same. The paper's sizes are 1000 / 500 / 1000.
/// </summary>
public static class DatasetSplits
{
    public const int DefaultTrainExamples = 1000;
    public const int DefaultEvalExamples = 500;
    public const int DefaultTestExamples = 1000;

    /// <summary>The paper's sizes: 1000 train, 500 validation, 1000 test.</summary>
    public static SampledSplits Sample(ITask task, string dataDir, ulong seed) =>
        Sample(task, dataDir, DefaultTrainExamples, DefaultEvalExamples, DefaultTestExamples, seed);

    /// <summary>
    /// Samples the three sets. A count of 0 skips that set (and a split that is not needed is not read). When the training
    /// split holds fewer than trainExamples + evalExamples examples, all of them are taken and divided between train and
    /// validation in the proportion asked (validation gets ⌊n·eval/(train+eval)⌋); when the validation split holds fewer than
    /// testExamples, all of it is the test set. Either is reported in <see cref="SampledSplits.Notes"/>. The files read, with
    /// their SHA-256, are in <see cref="SampledSplits.Files"/>. A set that was asked
    /// for and ends up empty throws <see cref="TaskDataException"/>.
    /// </summary>
    /// <remarks>With <paramref name="demonstrations"/> K &gt; 0, each test example also gets K in-context demonstrations
    /// drawn from the official training split with the same seed (<see cref="Demonstrations.Draw"/>).</remarks>
    public static SampledSplits Sample(ITask task, string dataDir, int trainExamples, int evalExamples, int testExamples, ulong seed,
        int demonstrations = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainExamples);
        ArgumentOutOfRangeException.ThrowIfNegative(evalExamples);
        ArgumentOutOfRangeException.ThrowIfNegative(testExamples);
        ArgumentOutOfRangeException.ThrowIfNegative(demonstrations);
        var notes = new List<string>();
        var data = new DataFolder(dataDir);
        IReadOnlyList<TaskExample>? trainingSplit = null;
        IReadOnlyList<TaskExample> TrainingSplit() => trainingSplit ??= task.LoadTrain(data);

        TaskExample[] train = [], validation = [];
        IReadOnlyList<TaskExample>? validationSplit = evalExamples > 0 ? task.LoadValidation(data) : null;
        if (validationSplit is not null)
        {
            if (trainExamples > 0)
            {
                IReadOnlyList<TaskExample> pool = TrainingSplit();
                train = Draw(pool, Math.Min(trainExamples, pool.Count), seed);
                if (train.Length < trainExamples)
                    notes.Add($"{task.Name}: the training split has {pool.Count} examples, fewer than the {trainExamples} train examples asked; took all of them");
                RequireNonEmpty(task, "train", train.Length, trainExamples, pool.Count, "the training split", "--train-examples");
            }
            validation = Draw(validationSplit, Math.Min(evalExamples, validationSplit.Count), seed);
            if (validation.Length < evalExamples)
                notes.Add($"{task.Name}: the validation split has {validationSplit.Count} examples, fewer than the {evalExamples} asked; took all of them");
            RequireNonEmpty(task, "validation", validation.Length, evalExamples, validationSplit.Count, "the validation split", "--eval-examples");
        }
        else if ((long)trainExamples + evalExamples > 0)
        {
            long wanted = (long)trainExamples + evalExamples;
            IReadOnlyList<TaskExample> pool = TrainingSplit();
            TaskExample[] drawn = Draw(pool, (int)Math.Min(wanted, pool.Count), seed);
            int validationCount = evalExamples;
            if (drawn.Length < wanted)
            {
                validationCount = (int)(drawn.Length * (long)evalExamples / wanted);
                notes.Add($"{task.Name}: the training split has {pool.Count} examples, fewer than the {wanted} asked " +
                          $"({trainExamples} train + {evalExamples} validation); took all of them: " +
                          $"{drawn.Length - validationCount} train, {validationCount} validation");
            }
            train = drawn[..^validationCount];
            validation = drawn[^validationCount..];
            RequireNonEmpty(task, "train", train.Length, trainExamples, pool.Count, "the training split", "--train-examples");
            RequireNonEmpty(task, "validation", validation.Length, evalExamples, pool.Count, "the training split", "--eval-examples");
        }

        TaskExample[] test = [];
        if (testExamples > 0)
        {
            IReadOnlyList<TaskExample> pool = task.LoadTest(data);
            test = Draw(pool, Math.Min(testExamples, pool.Count), seed);
            if (test.Length < testExamples && pool.Count > 0)
                notes.Add($"{task.Name}: the test split (the paper's tasks: the official validation split) has {pool.Count} " +
                          $"examples, fewer than the {testExamples} asked; took all of them");
            RequireNonEmpty(task, "test", test.Length, testExamples, pool.Count, "the test split", "--test-examples");
        }

        var testDemonstrations = Demonstrations.Draw(demonstrations > 0 ? TrainingSplit() : [], test, demonstrations, seed);
        return new SampledSplits(train, validation, test, notes, data.FilesRead, testDemonstrations);
    }

    /// <summary>The first <paramref name="count"/> examples of the seeded permutation of <paramref name="pool"/>.</summary>
    private static TaskExample[] Draw(IReadOnlyList<TaskExample> pool, int count, ulong seed)
    {
        int[] order = Permutation.Random(pool.Count, seed);
        var drawn = new TaskExample[count];
        for (int i = 0; i < count; i++) drawn[i] = pool[order[i]];
        return drawn;
    }

    private static void RequireNonEmpty(ITask task, string set, int got, int asked, int available, string source, string option)
    {
        if (asked > 0 && got == 0)
            throw new TaskDataException(
                $"{task.Name}: the {set} set is empty after sampling ({source} has {available} examples); " +
                $"provide more data, or pass {option} 0 to skip it");
    }
}
