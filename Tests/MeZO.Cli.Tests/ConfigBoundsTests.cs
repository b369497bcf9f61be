using MeZO.Engine.Tests.Reference;
using MeZO.Tests.Common;
using NUnit.Framework;

namespace MeZO.Cli.Tests;

/// <summary>
/// Real shared checkpoints whose config.json is edited for real, one number at a time, to values that describe no
/// model or not this one: `mezo score` must exit 1 with one line that names config.json and the key, having allocated
/// nothing proportional to the number (10⁹ layers used to grow memory without bound; a negative or huge width ended
/// in an internal OverflowException, exit 2). The harness's one-minute limit catches a run that tries to build it.
/// </summary>
[TestFixture]
public sealed class ConfigBoundsTests
{
    private static IEnumerable<TestCaseData> Edits()
    {
        TestCaseData Case(string model, string key, string value, string fragment) =>
            new TestCaseData(model, key, value, fragment).SetName($"{model}_{key}_{value}");
        const string llama = "stories260K", gpt2 = "tiny-random-gpt2";
        yield return Case(llama, "num_hidden_layers", "1000000000", "'num_hidden_layers' is 1000000000, but the checkpoint holds 5 layers");
        yield return Case(llama, "num_hidden_layers", "1000000", "'num_hidden_layers' is 1000000, but the checkpoint holds 5 layers");
        yield return Case(llama, "num_hidden_layers", "4", "'num_hidden_layers' is 4, but the checkpoint holds 5 layers");
        yield return Case(llama, "hidden_size", "-64", "'hidden_size' must be a positive integer, is -64");
        yield return Case(llama, "hidden_size", "1000000000", "'hidden_size' is 1000000000, but tensor 'model.embed_tokens.weight' (512, 64) implies 64");
        yield return Case(llama, "hidden_size", "2147483647", "'hidden_size' is 2147483647, but tensor");
        yield return Case(llama, "vocab_size", "1000000000", "'vocab_size' is 1000000000, but tensor 'model.embed_tokens.weight' (512, 64) implies 512");
        yield return Case(llama, "vocab_size", "0", "'vocab_size' must be a positive integer, is 0");
        yield return Case(llama, "intermediate_size", "1000000000", "'intermediate_size' is 1000000000, but tensor 'model.layers.0.mlp.up_proj.weight' (172, 64) implies 172");
        yield return Case(llama, "num_attention_heads", "0", "'num_attention_heads' must be a positive integer, is 0");
        yield return Case(llama, "num_attention_heads", "1000", "'num_attention_heads' (1000) exceeds 'hidden_size' (64)");
        yield return Case(llama, "head_dim", "1000000000", "'num_attention_heads' × 'head_dim' is too large");
        yield return Case(llama, "head_dim", "4", "'num_attention_heads' × 'head_dim' is 32, but tensor 'model.layers.0.self_attn.q_proj.weight' (64, 64) implies 64");
        yield return Case(llama, "num_key_value_heads", "-4", "'num_key_value_heads' must be a positive integer, is -4");
        yield return Case(llama, "max_position_embeddings", "-1", "'max_position_embeddings' must be a positive integer, is -1");
        yield return Case(llama, "rms_norm_eps", "0", "'rms_norm_eps' must be a positive finite number in float32, is 0");
        yield return Case(llama, "rms_norm_eps", "-1e-05", "'rms_norm_eps' must be a positive finite number in float32, is -1E-05");
        yield return Case(llama, "rms_norm_eps", "1e-50", "'rms_norm_eps' must be a positive finite number in float32, is 1E-50");
        yield return Case(llama, "rope_theta", "0", "rope_theta must be a positive finite number in float32, is 0");
        yield return Case(llama, "rope_theta", "-10000", "rope_theta must be a positive finite number in float32, is -10000");
        yield return Case(llama, "partial_rotary_factor", "0", "'partial_rotary_factor' must be in (0, 1], is 0");
        yield return Case(gpt2, "n_layer", "1000000000", "'n_layer' is 1000000000, but the checkpoint holds 5 layers");
        yield return Case(gpt2, "n_embd", "-64", "'n_embd' must be a positive integer, is -64");
        yield return Case(gpt2, "n_embd", "1000000000", "'n_embd' is too large: the sizes it implies overflow 32-bit integers");
        yield return Case(gpt2, "n_positions", "1000000000", "'n_positions' is 1000000000, but tensor 'transformer.wpe.weight' (512, 32) implies 512");
        yield return Case(gpt2, "n_positions", "2147483647", "'n_positions' is 2147483647, but tensor 'transformer.wpe.weight' (512, 32) implies 512");
        yield return Case(gpt2, "n_inner", "1000000000", "'n_inner' is 1000000000, but tensor 'transformer.h.0.mlp.c_fc.weight' (32, 128) implies 128");
        yield return Case(gpt2, "layer_norm_epsilon", "0", "'layer_norm_epsilon' must be a positive finite number in float32, is 0");
        yield return Case(gpt2, "layer_norm_epsilon", "1e300", "'layer_norm_epsilon' must be a positive finite number in float32, is 1E+300");
    }

    [TestCaseSource(nameof(Edits))]
    public void ScoreExitsOneNamingConfigJsonAndTheKey(string model, string key, string value, string fragment) =>
        AssertRefused(model, key, value, fragment, "score", "--model", "{model}", "--ids", "1,2,3");

    [TestCase("num_hidden_layers", "1000000000", "'num_hidden_layers' is 1000000000, but the checkpoint holds 5 layers")]
    [TestCase("hidden_size", "-64", "'hidden_size' must be a positive integer, is -64")]
    public void InspectExitsOneNamingConfigJsonAndTheKey(string key, string value, string fragment) =>
        AssertRefused("stories260K", key, value, fragment, "inspect", "{model}");

    private static void AssertRefused(string model, string key, string value, string fragment, params string[] args)
    {
        using var edited = CheckpointEditor.CopyOf(SharedData.Path("models/" + model));
        edited.SetConfig(key, value);

        var result = Mezo.Run(args.Select(a => a == "{model}" ? edited.Folder : a).ToArray());

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines, Has.Length.EqualTo(1), result.ToString());
        Assert.That(result.ErrorLines[0], Does.StartWith(edited.ConfigPath + ": ").And.Contain(fragment), result.ToString());
    }
}
