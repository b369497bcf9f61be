using MeZO.Engine.Models;
using MeZO.Engine.Tests.Reference;
using MeZO.Engine.Tokenization;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Models;

/// <summary>
/// Each family's first-token convention on real tokenizer files: Llama prepends &lt;s&gt;, GPT-2 adds nothing, OPT
/// prepends &lt;/s&gt; (and none of RoBERTa's &lt;s&gt;…&lt;/s&gt; wrapping). Expected ids are the published vocabularies' ids.
/// </summary>
[TestFixture]
public sealed class TokenizerConventionTests
{
    [Test]
    public void Stories260KPrependsBos()
    {
        string folder = SharedData.Path("models/stories260K");
        using var tokenizer = ModelTokenizer.Load(folder, ModelConfigReader.Read(folder));

        // llama2.c's encoder on its tok512 vocabulary: BOS, then ▁Once ▁upon ▁a ▁time.
        Assert.That(tokenizer.Encode("Once upon a time"), Is.EqualTo(new[] { 1, 403, 407, 261, 378 }));
        Assert.That(tokenizer.Decode([403, 407, 261, 378]), Is.EqualTo("Once upon a time"));
    }

    [Test]
    public void TinyRandomLlamaPrependsTheTokenizersBosEvenWhereConfigJsonNamesAnotherId()
    {
        // This config.json says bos_token_id 0, but id 0 is <unk> in its Llama-2 tokenizer; transformers' tokenizer adds
        // its own bos_token "<s>", which is id 1. "▁Hello" is 15043 and "▁world" 3186 in the Llama-2 vocabulary.
        string folder = SharedData.Path("models/tiny-random-llama-fp16");
        using var tokenizer = ModelTokenizer.Load(folder, ModelConfigReader.Read(folder));

        Assert.That(tokenizer.Encode("Hello world"), Is.EqualTo(new[] { 1, 15043, 3186 }));
    }

    [Test]
    public void Gpt2AddsNothing()
    {
        string folder = SharedData.Path("models/tiny-random-gpt2");
        using var tokenizer = ModelTokenizer.Load(folder, ModelConfigReader.Read(folder));

        // GPT-2's byte-level BPE: "Hello" 15496, "Ġworld" 995.
        Assert.That(tokenizer.Encode("Hello world"), Is.EqualTo(new[] { 15496, 995 }));
        Assert.That(tokenizer.PrefixToken, Is.Null);
    }

    [Test]
    public void OptPrependsEndOfSequenceWithoutRobertasWrapping()
    {
        using var checkpoint = TinyCheckpoints.Create(TinyVariant.OptPreLayerNorm);
        File.Copy(SharedData.Path("tokenizers/roberta-base.tokenizer.json"), Path.Combine(checkpoint.Folder, "tokenizer.json"));
        using var tokenizer = ModelTokenizer.Load(checkpoint.Folder, ModelConfigReader.Read(checkpoint.Folder));

        // RoBERTa's vocabulary: </s> 2, "Hello" 31414, "Ġworld" 232; RoBERTa itself would give [0, 31414, 232, 2].
        Assert.That(tokenizer.Encode("Hello world"), Is.EqualTo(new[] { 2, 31414, 232 }));
        Assert.That(tokenizer.Encode("Hello world", addPrefix: false), Is.EqualTo(new[] { 31414, 232 }));
    }
}
