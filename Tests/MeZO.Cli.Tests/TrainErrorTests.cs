using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Models;
using MeZO.Trainer.Default;
using MeZO.Trainer.Runs;
using MeZO.Trainer.Training;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// `mezo train` on bad input: exit code 1 and one line on stderr that names the problem (the file and line, the option,
/// the step), as DESIGN §5 asks; run folders are left as a later --resume needs them.
/// </summary>
public class TrainErrorTests : BundledDefaultFixture
{

    private string NewFolder(string name)
    {
        string path = Path.Combine(_root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A copy of the bundled data with <paramref name="change"/> applied to the copy's folder.</summary>
    private string Data(Action<string> change)
    {
        string copy = NewFolder("data");
        foreach (string file in Directory.EnumerateFiles(_data)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        change(copy);
        return copy;
    }

    /// <summary>Replaces line <paramref name="number"/> (1-based, the header is line 1) of a data file.</summary>
    private static void ReplaceLine(string folder, string file, int number, string line)
    {
        string path = Path.Combine(folder, file);
        var lines = File.ReadAllLines(path);
        lines[number - 1] = line;
        File.WriteAllLines(path, lines);
    }

    /// <summary>A small run's arguments; an option in <paramref name="more"/> replaces the one given here (a repeated option is an error).</summary>
    private string[] Train(string data, string run, params string[] more)
    {
        string[] defaults =
        [
            "--model", _model, "--task", "sst2", "--data", data, "--out", run, "--train-examples", "32", "--eval-examples", "8",
            "--test-examples", "8", "--steps", "4", "--batch-size", "4", "--checkpoint-every", "2",
        ];
        var kept = defaults.Chunk(2).Where(pair => !more.Contains(pair[0])).SelectMany(pair => pair);
        return ["train", .. kept, .. more];
    }

    [Test]
    public void UnknownTask() =>
        MezoProcess.AssertOneLineError(MezoProcess.Run([.. Train(_data, NewFolder("run")).Select(a => a == "sst2" ? "sst3" : a)]),
            "unknown task 'sst3'; the tasks are: sst2, rte");

    [TestCase("--lr", "-0.001", "--lr must not be negative")]
    [TestCase("--weight-decay", "-1", "--weight-decay must not be negative")]
    [TestCase("--checkpoint-every", "-1", "--eval-every, --checkpoint-every and --log-every must not be negative")]
    [TestCase("--max-length", "1", "--max-length 1 leaves no room for a prompt and an answer (at least 2)")]
    public void OptionOutOfRange(string option, string value, string fragment) =>
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(_data, NewFolder("run"), option, value)), fragment);

    [Test]
    public void DataFolderMissingAFile()
    {
        string data = Data(folder => File.Delete(Path.Combine(folder, "test.tsv")));
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(data, NewFolder("run"))), $"sst2: data file not found: {Path.Combine(data, "test.tsv")}");
    }

    [Test]
    public void MalformedLineIsNamedByFileAndLine()
    {
        string data = Data(folder => ReplaceLine(folder, "train.tsv", 7, "a line without a tab"));
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(data, NewFolder("run"))), $"{Path.Combine(data, "train.tsv")}:7: expected 2 tab-separated fields, found 1");
    }

    [Test]
    public void LabelOutsideTheVerbalizer()
    {
        string data = Data(folder => ReplaceLine(folder, "dev.tsv", 4, "a fine film .\t2"));
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(data, NewFolder("run"))), $"{Path.Combine(data, "dev.tsv")}:4: label \"2\" is not one of the task's labels");
    }

    [Test]
    public void EmptyTrainingSetAfterSampling()
    {
        string data = Data(folder =>
        {
            File.WriteAllText(Path.Combine(folder, "train.tsv"), "sentence\tlabel\n");
            File.WriteAllText(Path.Combine(folder, "dev.tsv"), "sentence\tlabel\n");
        });
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(data, NewFolder("run"))), "sst2: the train set is empty after sampling");
    }

    [Test]
    public void PromptsLongerThanTheContextAreTruncatedAndCounted()
    {
        var result = MezoProcess.Run(Train(_data, NewFolder("run"), "--max-length", "8"));
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        Assert.That(result.Output, Does.Match(@"note: \d+ of 32 training examples were longer than 8 tokens and were truncated from the left"));
    }

    [Test]
    public void OutFolderHoldingARunWithoutResume()
    {
        string run = NewFolder("run");
        Assert.That(MezoProcess.Run(Train(_data, run)).ExitCode, Is.EqualTo(0));
        byte[] weights = File.ReadAllBytes(Path.Combine(run, "model", "model.safetensors"));

        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(_data, run)), $"{run} already holds a run; pass --resume to continue it");
        Assert.That(File.ReadAllBytes(Path.Combine(run, "model", "model.safetensors")), Is.EqualTo(weights), "the run is untouched");
    }

    [Test]
    public void ResumeWithOtherSettingsOrAnotherModel()
    {
        string run = NewFolder("run");
        Assert.That(MezoProcess.Run(Train(_data, run)).ExitCode, Is.EqualTo(0));

        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(_data, run, "--resume", "--lr", "0.5")),
            "was made with other settings (--lr 0.5 given, the run's is 1E-06); leave them out");

        // The same files in another folder: a different --model.
        string copy = NewFolder("model");
        foreach (string file in Directory.EnumerateFiles(_model)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        MezoProcess.AssertOneLineError(MezoProcess.Run([.. Train(_data, run, "--resume").Select(a => a == _model ? copy : a)]),
            $"was made with other settings (--model {copy} given, the run's is {_model})");

        // The same folder holding other weights.
        string moved = _model + ".moved";
        Directory.Move(_model, moved);
        try
        {
            Directory.CreateDirectory(_model);
            foreach (string file in Directory.EnumerateFiles(moved)) File.Copy(file, Path.Combine(_model, Path.GetFileName(file)));
            using (var stream = new FileStream(Path.Combine(_model, "model.safetensors"), FileMode.Open))
            {
                stream.Seek(-4, SeekOrigin.End); // the last float of the last tensor (a norm weight or bias: 1 or 0)
                stream.Write([0, 0, 0, 0x40]); // 2.0f
            }
            MezoProcess.AssertOneLineError(MezoProcess.Run(Train(_data, run, "--resume")),
                $"--resume: {Path.Combine(_model, "model.safetensors")} has changed since the run started");
        }
        finally
        {
            Directory.Delete(_model, recursive: true);
            Directory.Move(moved, _model);
        }
    }

    [Test]
    public void ANonFiniteLossStopsAtItsStepAndKeepsTheLastGoodCheckpoint()
    {
        // A model whose embedding of "times" (a word of the vocabulary that the bundled sentences never use) overflows, and
        // one training sentence that uses it: the batch that holds that sentence has a NaN loss.
        string model = NewFolder("poisoned"), data = Data(folder =>
        {
            ReplaceLine(folder, "train.tsv", 12, "the film is very good times .\t1");
            string train = Path.Combine(folder, "train.tsv");
            File.WriteAllLines(train, File.ReadAllLines(train).Take(41));
            File.WriteAllText(Path.Combine(folder, "dev.tsv"), "sentence\tlabel\n");
        });
        PoisonEmbedding(model, "times");
        string run = NewFolder("run");
        string[] args = ["train", "--model", model, "--task", "sst2", "--data", data, "--out", run, "--train-examples", "40", "--eval-examples", "0",
            "--test-examples", "0", "--steps", "30", "--batch-size", "4", "--checkpoint-every", "3", "--seed", "5"];
        long poisoned = FirstStepWithSentence(model, data, "times", seed: 5, batchSize: 4);
        Assert.That(poisoned, Is.GreaterThanOrEqualTo(4), "the seed is chosen so that a checkpoint comes before the poisoned batch");

        var result = MezoProcess.Run(args);

        MezoProcess.AssertOneLineError(result, $"the loss became non-finite at step {poisoned} ");
        long lastGood = (poisoned - 1) / 3 * 3;
        Assert.That(result.Error, Does.Contain($"training stopped, the last good checkpoint (step {lastGood}) is kept in {Path.Combine(run, "checkpoint")}"));
        Assert.That(RunState.Read(Path.Combine(run, "checkpoint")).CompletedSteps, Is.EqualTo(lastGood));
        Assert.That(Directory.Exists(Path.Combine(run, "model")), Is.False, "no final model");
        var (records, _) = TrajectoryLog.Read(Path.Combine(run, TrajectoryLog.FileName));
        Assert.That(records.Select(r => r.Step), Is.EqualTo(Enumerable.Range(0, (int)poisoned).Select(t => (long)t)), "the steps before it, each once");
    }

    [Test]
    public void WeightsThatBlowUpAreNeverCheckpointed()
    {
        // lr 1e12: step 0's update leaves weights of order 1e13, at which the loss is NaN. The checkpoint after step 1
        // would hold them; it must not be written.
        string run = NewFolder("run");
        var result = MezoProcess.Run(Train(_data, run, "--lr", "1e12", "--checkpoint-every", "1"));

        MezoProcess.AssertOneLineError(result, "the loss became non-finite at step 1 ");
        Assert.That(Directory.Exists(Path.Combine(run, "checkpoint")), Is.False, "no checkpoint of the blown-up weights");
        Assert.That(result.Error, Does.Contain("training stopped, before its first checkpoint: the run folder holds no trained weights")
            .And.Not.Contain("checkpoint is kept"), "no checkpoint is promised that does not exist");
    }

    [Test]
    public void AnUpdateThatOverflowsBf16StopsTheRunItsResumeAndItsReplayAlike()
    {
        // lr 1e38: step 0's update carries a BF16 weight past 3.39e38. Its trajectory line is written before the update
        // is tried, so a resume and a replay meet the same update.
        string run = NewFolder("run");
        const string overflow = "at step 0 the MeZO update of 'model.decoder.embed_positions.weight' overflows";
        MezoProcess.AssertOneLineError(MezoProcess.Run(Train(_data, run, "--dtype", "bf16", "--lr", "1e38")), overflow);

        var resumed = MezoProcess.Run("train", "--out", run, "--resume");
        MezoProcess.AssertOneLineError(resumed, overflow);
        Assert.That(resumed.Error, Does.Contain("training stopped, before its first checkpoint"));
        MezoProcess.AssertOneLineError(MezoProcess.Run("replay", "--base", _model, "--run", run, "--out", NewFolder("replayed")), overflow);
    }

    /// <summary>
    /// Writes the bundled model with an untied LM head (a tied one would put the NaN into every logit) and the input
    /// embedding row of <paramref name="word"/> set to NaN.
    /// </summary>
    private void PoisonEmbedding(string target, string word)
    {
        string config = File.ReadAllText(Path.Combine(_model, "config.json")).Replace("\"torch_dtype\"", "\"tie_word_embeddings\": false, \"torch_dtype\"");
        SyntheticCheckpoint.Write(target, config, MeZO.Engine.Tensors.DType.F32, seed: 17);
        File.Copy(Path.Combine(_model, "tokenizer.json"), Path.Combine(target, "tokenizer.json"));
        int id = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "tokenizer.json")))
            .RootElement.GetProperty("model").GetProperty("vocab").GetProperty(word).GetInt32();
        using var backend = new CpuBackend();
        using var model = Transformer.Load(target, backend);
        Assert.That(model.Spec.TiedLmHead, Is.False);
        var embedding = model.Weights.TokenEmbedding;
        int width = embedding.Shape[1];
        // Finite (loading refuses a stored NaN), but the row's sum overflows float32 in the first norm: a NaN loss.
        backend.Upload<float>(embedding.View(new MeZO.Engine.Tensors.TensorShape(width), (long)id * width), Enumerable.Repeat(3e38f, width).ToArray());
        model.Weights.Save(target, RunFolder.ModelSideFiles(target));
    }

    /// <summary>The first step whose batch holds the training sentence containing <paramref name="word"/>.</summary>
    private static long FirstStepWithSentence(string model, string data, string word, ulong seed, int batchSize)
    {
        using var session = TrainingSession.Open(new SessionOptions
        {
            Model = model, Task = "sst2", Data = data, TrainExamples = 40, Seed = seed, MicroBatchSize = batchSize,
        });
        int index = session.Train.ToList().FindIndex(e => e.Example.Prompt.Contains(" " + word + " "));
        var batches = new BatchSchedule(session.Train.Count, batchSize, seed);
        long step = 0;
        while (!batches.IndicesOf(step).Contains(index)) step++;
        return step;
    }
}
