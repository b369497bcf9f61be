namespace MeZO.Trainer.Tasks;

/// <summary>How a task is scored and trained (MeZO, large_models/run.py).</summary>
public enum TaskKind
{
    /// <summary>
    /// The candidates are the verbalizer's words (SST-2, RTE, CB, BoolQ, WSC, WiC, MultiRC). Prediction: the candidate with
    /// the highest mean log-probability of its tokens; training: cross-entropy over those scores (MeZO's
    /// train_as_classification). Metric: accuracy.
    /// </summary>
    Classification,

    /// <summary>
    /// The candidates are texts of their own (COPA's two choices, ReCoRD's entities). Prediction as for
    /// <see cref="Classification"/>, but training teacher-forces the correct candidate's tokens only (MeZO's
    /// only_train_option). Metric: accuracy.
    /// </summary>
    MultipleChoice,

    /// <summary>
    /// The answer is generated (SQuAD, DROP): greedy decoding of at most 50 new tokens that stops at a newline; training
    /// teacher-forces the first gold answer. Metric: SQuAD token F1, the maximum over the gold answers, with exact match beside it.
    /// </summary>
    Generation,

    /// <summary>
    /// Plain text (the jsonl task's {"text": …} records): no prompt and no candidates, every token after the first is
    /// scored given those before it. Training: the mean negative log-likelihood of those tokens (teacher forcing);
    /// metric: the mean log-likelihood per token, higher is better, with the perplexity exp(−it) beside it.
    /// </summary>
    LanguageModeling,
}
