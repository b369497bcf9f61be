using MeZO.Engine;
using MeZO.Trainer.Data;

namespace MeZO.Trainer.Tasks;

/// <summary>
/// In-context demonstrations as the MeZO paper's ICL baseline draws and writes them (princeton-nlp/MeZO, large_models):
/// <list type="bullet">
/// <item>Which: icl.sh runs run.py with --num_train 32 and no --train_set_seed, so tasks.py sample_train_sets draws one
/// set per evaluated example, each the first K of a permutation of the training split under that example's own seed (the
/// seeds are drawn in order from a seeded generator). MeZO draws them with numpy, so the examples differ from the
/// paper's; the procedure is the same. As sample_subset's exclude does, an evaluated example is never among its own
/// demonstrations (it cannot be when the two come from different splits, as in `mezo eval`).</item>
/// <item>How: utils.py encode_prompt writes each demonstration as the template's text with its gold answer
/// (verbalize(sample, correct_candidate)), stripped of surrounding whitespace, joins them with the task's train_sep
/// "\n\n" (every task of ours), and puts train_sep and the evaluated example after them.</item>
/// </list>
/// Which tokens are scored and how the whole is truncated from the left is <see cref="PromptEncoder"/>'s business.
/// </summary>
public static class Demonstrations
{
    /// <summary>MeZO's Dataset.train_sep: between demonstrations and before the evaluated example.</summary>
    public const string Separator = "\n\n";

    /// <summary>
    /// One set of <paramref name="k"/> demonstrations from <paramref name="pool"/> (the training split) for each of
    /// <paramref name="evaluated"/>, in order. Set i is the first k examples of <see cref="Permutation.Random"/>(pool, s_i),
    /// skipping evaluated[i] itself (the same object, or the same id read from the same place); s_i is the (i+1)-th output of a
    /// <see cref="SplitMix64"/> seeded with <paramref name="seed"/>. K = 0 gives empty sets (zero-shot).
    /// </summary>
    /// <exception cref="InvalidInputException">the pool holds fewer than k examples besides the evaluated one.</exception>
    public static IReadOnlyList<TaskExample>[] Draw(IReadOnlyList<TaskExample> pool, IReadOnlyList<TaskExample> evaluated, int k, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var sets = new IReadOnlyList<TaskExample>[evaluated.Count];
        if (k == 0)
        {
            Array.Fill(sets, []);
            return sets;
        }
        if (k > pool.Count)
            throw TooMany(k, pool.Count);
        var seeds = new SplitMix64(seed);
        for (int i = 0; i < evaluated.Count; i++)
        {
            int[] order = Permutation.Random(pool.Count, seeds.Next());
            var set = new List<TaskExample>(k);
            for (int j = 0; j < order.Length && set.Count < k; j++)
                if (!IsSame(pool[order[j]], evaluated[i])) set.Add(pool[order[j]]);
            if (set.Count < k)
                throw TooMany(k, pool.Count - 1);
            sets[i] = set;
        }
        return sets;
    }

    /// <summary>The demonstrations as MeZO writes them before an evaluated example: each one's text with its gold answer,
    /// stripped, joined by <see cref="Separator"/>; "" for none.</summary>
    public static string Render(ITask task, IReadOnlyList<TaskExample> demonstrations) =>
        PythonText.Strip(string.Join(Separator, demonstrations.Select(example =>
        {
            PromptedExample prompted = task.Render(example);
            return PythonText.Strip(prompted.FullText(prompted.CorrectCandidate));
        })));

    /// <summary>The text MeZO tokenizes: (demonstrations + train_sep + text).lstrip(), which is the text alone when there
    /// are no demonstrations.</summary>
    public static string Prefix(string demonstrations, string text) =>
        demonstrations.Length == 0 ? text : demonstrations + Separator + text;

    /// <summary>The same example: one file line can hold several (MultiRC's answers, ReCoRD's queries), so the id too.</summary>
    private static bool IsSame(TaskExample a, TaskExample b) => ReferenceEquals(a, b) || (a.Origin == b.Origin && a.Id == b.Id);

    private static InvalidInputException TooMany(int k, int available) =>
        new($"{k} demonstrations were asked for each example, but the training split has only {available} examples to draw " +
            $"them from; pass --demonstrations {available} or fewer");
}
