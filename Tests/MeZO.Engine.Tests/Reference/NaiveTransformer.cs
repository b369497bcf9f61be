using System.Text.Json.Nodes;

namespace MeZO.Engine.Tests.Reference;

/// <summary>
/// The oracle for model tests: a naive double-precision forward pass written straight from transformers'
/// modeling_opt.py, modeling_llama.py (also mistral and qwen2, which differ only in biases and defaults) and
/// modeling_gpt2.py, from a config.json and the stored tensors. No caching, no batching tricks, no shared code with
/// the engine: one sequence at a time, one position at a time, plain loops.
/// <para>
/// Positions come from the attention mask as the engine derives them: OPT uses HF's OPTLearnedPositionalEmbedding,
/// <c>cumsum(mask)·mask − 1</c> (padding −1), looked up at row position + 2; Llama-family models and GPT-2 use what
/// HF <c>generate</c> passes, <c>cumsum(mask) − 1</c> with padding positions set to 1. Attention is causal and skips
/// padded keys; a padding query that sees no key gets a zero attention output (its logits are finite but meaningless).
/// A sliding-window layer (Mistral; Qwen2 as its config says) lets index t attend only indices j with t − j &lt; window,
/// counted over the padded row as transformers' masking_utils counts them.
/// </para>
/// </summary>
public sealed class NaiveTransformer
{
    private readonly JsonObject _config;
    private readonly IReadOnlyDictionary<string, ReferenceTensor> _weights;

    public NaiveTransformer(JsonObject config, IReadOnlyDictionary<string, ReferenceTensor> weights)
    {
        _config = config;
        _weights = weights;
        ModelType = String("model_type", "");
        if (ModelType is not ("opt" or "llama" or "mistral" or "qwen2" or "gpt2"))
            throw new NotSupportedException($"config.json: model_type '{ModelType}' has no reference forward pass");
        VocabSize = Int("vocab_size");
    }

    /// <summary>Reads config.json and the safetensors (single or sharded) of a Hugging Face model folder.</summary>
    public static NaiveTransformer FromFolder(string folder) =>
        new(JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject(), SafetensorsTestReader.ReadFolder(folder));

    public string ModelType { get; }

    public int VocabSize { get; }

    /// <summary>
    /// Called in every layer of every sequence of <see cref="Forward"/> with the layer index and what transformers' KV
    /// cache would hold for it: keys (T, KVH·D) after RoPE and values (T, KVH·D), head-major in each row. Null: not called.
    /// </summary>
    public Action<int, double[][], double[][]>? KeysAndValues { get; set; }

    /// <summary>
    /// PEFT's LoRA, its tensors under adapter_model.safetensors' keys (base_model.model.{module}.lora_A.weight (r, in),
    /// lora_B.weight (out, r)): a projection with both adds Scale·B·(A·x) to its output, in double, as LoraLayer.forward
    /// does (dropout off). Null: none.
    /// </summary>
    public (IReadOnlyDictionary<string, ReferenceTensor> Tensors, double Scale)? Lora { get; set; }

    /// <summary>
    /// transformers' past_key_values of P positions for every layer, the same for each sequence: layer i's keys (P,
    /// KVH·D), after RoPE, and values, attended by every token before its own; the mask gains P ones in front and the
    /// positions count from P (as generate passes them after a cache of length P). Null: none.
    /// </summary>
    public (double[][] Keys, double[][] Values)[]? Past { get; set; }

    /// <summary>Logits (B, T, V) at every position of every sequence; <paramref name="attentionMask"/> (B, T) is 1 for real tokens, 0 for padding (all ones when null).</summary>
    public double[,,] Forward(int[,] inputIds, int[,]? attentionMask = null)
    {
        int batch = inputIds.GetLength(0), length = inputIds.GetLength(1);
        attentionMask ??= Ones(batch, length);
        if (attentionMask.GetLength(0) != batch || attentionMask.GetLength(1) != length)
            throw new ArgumentException($"attention mask ({attentionMask.GetLength(0)}, {attentionMask.GetLength(1)}) does not match input ids ({batch}, {length})");
        int past = Past?[0].Keys.Length ?? 0;
        var keyMask = new int[batch, past + length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < past + length; t++)
                keyMask[b, t] = t < past ? 1 : attentionMask[b, t - past];
        int[,] keyPositions = PositionIds(ModelType, keyMask);
        var positions = new int[batch, length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                positions[b, t] = keyPositions[b, past + t];
        var logits = new double[batch, length, VocabSize];
        for (int b = 0; b < batch; b++)
        {
            int[] ids = new int[length], mask = new int[past + length], pos = new int[length];
            for (int t = 0; t < past + length; t++) mask[t] = keyMask[b, t];
            for (int t = 0; t < length; t++)
            {
                ids[t] = inputIds[b, t];
                pos[t] = positions[b, t];
                if ((uint)ids[t] >= (uint)VocabSize) throw new ArgumentException($"input id {ids[t]} at ({b}, {t}) is outside the vocabulary ({VocabSize})");
            }
            double[][] rows = ModelType switch
            {
                "opt" => Opt(ids, mask, pos),
                "gpt2" => Gpt2(ids, mask, pos),
                _ => LlamaFamily(ids, mask, pos),
            };
            for (int t = 0; t < length; t++)
                for (int v = 0; v < VocabSize; v++)
                    logits[b, t, v] = rows[t][v];
        }
        return logits;
    }

    /// <summary>
    /// The Hugging Face position ids for a mask (B, T): OPT <c>cumsum(mask)·mask − 1</c> (padding −1; the embedding
    /// row is this + 2); every other model <c>cumsum(mask) − 1</c> with padding set to 1.
    /// </summary>
    public static int[,] PositionIds(string modelType, int[,] attentionMask)
    {
        int batch = attentionMask.GetLength(0), length = attentionMask.GetLength(1);
        var positions = new int[batch, length];
        for (int b = 0; b < batch; b++)
        {
            int cumulative = 0;
            for (int t = 0; t < length; t++)
            {
                int m = attentionMask[b, t] != 0 ? 1 : 0;
                cumulative += m;
                positions[b, t] = modelType == "opt" ? cumulative * m - 1 : m == 1 ? cumulative - 1 : 1;
            }
        }
        return positions;
    }

    /// <summary>log softmax of the logits at (b, t).</summary>
    public static double[] LogSoftmax(double[,,] logits, int b, int t)
    {
        int vocab = logits.GetLength(2);
        double max = double.NegativeInfinity;
        for (int v = 0; v < vocab; v++) max = Math.Max(max, logits[b, t, v]);
        double sum = 0;
        for (int v = 0; v < vocab; v++) sum += Math.Exp(logits[b, t, v] - max);
        double logSum = max + Math.Log(sum);
        var result = new double[vocab];
        for (int v = 0; v < vocab; v++) result[v] = logits[b, t, v] - logSum;
        return result;
    }

    // ---- OPT (modeling_opt.py: OPTDecoder, OPTDecoderLayer, OPTAttention) ----

    private double[][] Opt(int[] ids, int[] mask, int[] positions)
    {
        int hidden = Int("hidden_size"), heads = Int("num_attention_heads"), ffn = Int("ffn_dim");
        int projection = OptionalInt("word_embed_proj_dim") ?? hidden;
        int maxPositions = Int("max_position_embeddings");
        bool before = Bool("do_layer_norm_before", true), bias = Bool("enable_bias", true);
        bool affine = Bool("layer_norm_elementwise_affine", true);
        var activation = ReferenceMath.Activation(String("activation_function", "relu"));
        const double eps = 1e-5; // nn.LayerNorm's default: OPT does not configure it
        int headDim = hidden / heads;
        const string p = "model.decoder.";

        var embed = Weight(p + "embed_tokens.weight", VocabSize, projection);
        var embedPositions = Weight(p + "embed_positions.weight", maxPositions + 2, hidden);
        var x = ids.Select(id => Row(embed, id)).ToArray();
        if (projection != hidden) x = x.Select(e => Linear(e, Weight(p + "project_in.weight", hidden, projection), null)).ToArray();
        for (int t = 0; t < x.Length; t++)
        {
            double[] position = Row(embedPositions, positions[t] + 2); // OPTLearnedPositionalEmbedding.offset
            for (int c = 0; c < hidden; c++) x[t][c] += position[c];
        }

        for (int i = 0; i < Int("num_hidden_layers"); i++)
        {
            string l = $"{p}layers.{i}.";
            double[] LayerNormNamed(double[] v, string name) => LayerNorm(v,
                affine ? Weight(name + ".weight", hidden) : null, affine ? Weight(name + ".bias", hidden) : null, eps);
            double[] Project(double[] v, string name, int outF, int inF) =>
                Adapted(Linear(v, Weight(name + ".weight", outF, inF), bias ? Weight(name + ".bias", outF) : null), v, name);

            var attnIn = before ? x.Select(v => LayerNormNamed(v, l + "self_attn_layer_norm")).ToArray() : x;
            var q = attnIn.Select(v => Scale(Project(v, l + "self_attn.q_proj", hidden, hidden), 1.0 / Math.Sqrt(headDim))).ToArray();
            var k = attnIn.Select(v => Project(v, l + "self_attn.k_proj", hidden, hidden)).ToArray();
            var vv = attnIn.Select(v => Project(v, l + "self_attn.v_proj", hidden, hidden)).ToArray();
            KeysAndValues?.Invoke(i, k, vv);
            var attn = Attention(q, WithPast(i, k, keys: true), WithPast(i, vv, keys: false), mask, heads, heads, headDim, scale: 1.0, window: 0);
            for (int t = 0; t < x.Length; t++)
            {
                x[t] = Add(x[t], Project(attn[t], l + "self_attn.out_proj", hidden, hidden));
                if (!before) x[t] = LayerNormNamed(x[t], l + "self_attn_layer_norm");
            }
            for (int t = 0; t < x.Length; t++)
            {
                double[] h = before ? LayerNormNamed(x[t], l + "final_layer_norm") : x[t];
                h = Project(h, l + "fc1", ffn, hidden).Select(activation).ToArray();
                x[t] = Add(x[t], Project(h, l + "fc2", hidden, ffn));
                if (!before) x[t] = LayerNormNamed(x[t], l + "final_layer_norm");
            }
        }

        if (before && !Bool("_remove_final_layer_norm", false))
            x = x.Select(v => LayerNorm(v, affine ? Weight(p + "final_layer_norm.weight", hidden) : null,
                affine ? Weight(p + "final_layer_norm.bias", hidden) : null, eps)).ToArray();
        if (projection != hidden) x = x.Select(v => Linear(v, Weight(p + "project_out.weight", projection, hidden), null)).ToArray();
        var head = Bool("tie_word_embeddings", true) ? embed : Weight("lm_head.weight", VocabSize, projection);
        return x.Select(v => Linear(v, head, null)).ToArray();
    }

    // ---- Llama, Mistral, Qwen2 (modeling_llama.py; Qwen2Attention adds q/k/v biases) ----

    private double[][] LlamaFamily(int[] ids, int[] mask, int[] positions)
    {
        int hidden = Int("hidden_size"), heads = Int("num_attention_heads"), intermediate = Int("intermediate_size");
        int kvHeads = OptionalInt("num_key_value_heads") ?? heads;
        int headDim = OptionalInt("head_dim") ?? hidden / heads;
        double eps = Double("rms_norm_eps", 1e-6);
        var activation = ReferenceMath.Activation(String("hidden_act", "silu"));
        bool qkvBias = ModelType == "qwen2" || (ModelType == "llama" && Bool("attention_bias", false));
        bool outBias = ModelType == "llama" && Bool("attention_bias", false);
        bool mlpBias = ModelType == "llama" && Bool("mlp_bias", false);
        int rotary = (int)(headDim * Double("partial_rotary_factor", 1.0)); // int(head_dim · factor), as transformers
        if (rotary % 2 != 0) throw new NotSupportedException($"config.json: {rotary} rotary features is odd");
        double theta = RopeTheta();
        int[] windows = LayerWindows(Int("num_hidden_layers"));

        var embed = Weight("model.embed_tokens.weight", VocabSize, hidden);
        var x = ids.Select(id => Row(embed, id)).ToArray();
        for (int i = 0; i < Int("num_hidden_layers"); i++)
        {
            string l = $"model.layers.{i}.";
            double[] Project(double[] v, string name, int outF, int inF, bool withBias) =>
                Adapted(Linear(v, Weight(name + ".weight", outF, inF), withBias ? Weight(name + ".bias", outF) : null), v, name);

            var h = x.Select(v => RmsNorm(v, Weight(l + "input_layernorm.weight", hidden), eps)).ToArray();
            var q = h.Select(v => Project(v, l + "self_attn.q_proj", heads * headDim, hidden, qkvBias)).ToArray();
            var k = h.Select(v => Project(v, l + "self_attn.k_proj", kvHeads * headDim, hidden, qkvBias)).ToArray();
            var vv = h.Select(v => Project(v, l + "self_attn.v_proj", kvHeads * headDim, hidden, qkvBias)).ToArray();
            for (int t = 0; t < x.Length; t++)
            {
                Rope(q[t], heads, headDim, rotary, positions[t], theta);
                Rope(k[t], kvHeads, headDim, rotary, positions[t], theta);
            }
            KeysAndValues?.Invoke(i, k, vv);
            var attn = Attention(q, WithPast(i, k, keys: true), WithPast(i, vv, keys: false), mask, heads, kvHeads, headDim,
                1.0 / Math.Sqrt(headDim), windows[i]);
            for (int t = 0; t < x.Length; t++)
                x[t] = Add(x[t], Project(attn[t], l + "self_attn.o_proj", hidden, heads * headDim, outBias));
            for (int t = 0; t < x.Length; t++)
            {
                double[] n = RmsNorm(x[t], Weight(l + "post_attention_layernorm.weight", hidden), eps);
                double[] gate = Project(n, l + "mlp.gate_proj", intermediate, hidden, mlpBias);
                double[] up = Project(n, l + "mlp.up_proj", intermediate, hidden, mlpBias);
                double[] gated = gate.Select((g, j) => activation(g) * up[j]).ToArray();
                x[t] = Add(x[t], Project(gated, l + "mlp.down_proj", hidden, intermediate, mlpBias));
            }
        }
        x = x.Select(v => RmsNorm(v, Weight("model.norm.weight", hidden), eps)).ToArray();
        var head = Bool("tie_word_embeddings", false) ? embed : Weight("lm_head.weight", VocabSize, hidden);
        return x.Select(v => Linear(v, head, null)).ToArray();
    }

    private double RopeTheta()
    {
        if (_config["rope_scaling"] is JsonObject scaling && (string?)(scaling["rope_type"] ?? scaling["type"]) is not (null or "default"))
            throw new NotSupportedException("config.json: rope_scaling has no reference implementation");
        if (_config["rope_parameters"] is JsonObject parameters) // transformers 5 moves rope_theta here
        {
            if ((string?)parameters["rope_type"] is not (null or "default"))
                throw new NotSupportedException("config.json: rope_parameters.rope_type has no reference implementation");
            if (parameters["rope_theta"] is JsonNode nested) return (double)nested;
        }
        return Double("rope_theta", 10000.0);
    }

    /// <summary>
    /// Each layer's attention window, 0 for none, as transformers reads config.json: MistralConfig's sliding_window
    /// defaults to 4096 when the key is absent (null: none) and applies to every layer; Qwen2Config keeps it only with
    /// use_sliding_window and applies it to the layers layer_types calls "sliding_attention", or without layer_types to
    /// layers i ≥ max_window_layers (default 28); Llama has none.
    /// </summary>
    private int[] LayerWindows(int layers)
    {
        int? window = _config.TryGetPropertyValue("sliding_window", out var node) ? (node is null ? null : (int)node) : 4096;
        var windows = new int[layers];
        if (ModelType == "llama" || window is null || (ModelType == "qwen2" && !Bool("use_sliding_window", false))) return windows;
        for (int i = 0; i < layers; i++)
        {
            bool sliding = ModelType == "mistral" || (_config["layer_types"] is JsonArray types
                ? (string?)types[i] == "sliding_attention"
                : i >= (OptionalInt("max_window_layers") ?? 28));
            windows[i] = sliding ? window.Value : 0;
        }
        return windows;
    }

    // ---- GPT-2 (modeling_gpt2.py: GPT2Model, GPT2Block, GPT2Attention, GPT2MLP, Conv1D) ----

    private double[][] Gpt2(int[] ids, int[] mask, int[] positions)
    {
        int hidden = Int("n_embd"), heads = Int("n_head"), inner = OptionalInt("n_inner") ?? 4 * hidden;
        double eps = Double("layer_norm_epsilon", 1e-5);
        var activation = ReferenceMath.Activation(String("activation_function", "gelu_new"));
        int headDim = hidden / heads;

        var wte = Weight("transformer.wte.weight", VocabSize, hidden);
        var wpe = Weight("transformer.wpe.weight", Int("n_positions"), hidden);
        var x = ids.Select((id, t) => Add(Row(wte, id), Row(wpe, positions[t]))).ToArray();
        for (int i = 0; i < Int("n_layer"); i++)
        {
            string l = $"transformer.h.{i}.";
            double[] Norm(double[] v, string name) => LayerNorm(v, Weight(name + ".weight", hidden), Weight(name + ".bias", hidden), eps);
            double[] Conv(double[] v, string name, int inF, int outF) =>
                Adapted(Conv1D(v, Weight(name + ".weight", inF, outF), Weight(name + ".bias", outF)), v, name);

            var qkv = x.Select(v => Conv(Norm(v, l + "ln_1"), l + "attn.c_attn", hidden, 3 * hidden)).ToArray();
            var q = qkv.Select(r => r[..hidden]).ToArray();
            var k = qkv.Select(r => r[hidden..(2 * hidden)]).ToArray();
            var vv = qkv.Select(r => r[(2 * hidden)..]).ToArray();
            double scale = Bool("scale_attn_weights", true) ? 1.0 / Math.Sqrt(headDim) : 1.0;
            if (Bool("scale_attn_by_inverse_layer_idx", false)) scale /= i + 1;
            KeysAndValues?.Invoke(i, k, vv);
            var attn = Attention(q, WithPast(i, k, keys: true), WithPast(i, vv, keys: false), mask, heads, heads, headDim, scale, window: 0);
            for (int t = 0; t < x.Length; t++) x[t] = Add(x[t], Conv(attn[t], l + "attn.c_proj", hidden, hidden));
            for (int t = 0; t < x.Length; t++)
            {
                double[] h = Conv(Norm(x[t], l + "ln_2"), l + "mlp.c_fc", hidden, inner).Select(activation).ToArray();
                x[t] = Add(x[t], Conv(h, l + "mlp.c_proj", inner, hidden));
            }
        }
        x = x.Select(v => LayerNorm(v, Weight("transformer.ln_f.weight", hidden), Weight("transformer.ln_f.bias", hidden), eps)).ToArray();
        var head = Bool("tie_word_embeddings", true) ? wte : Weight("lm_head.weight", VocabSize, hidden);
        return x.Select(v => Linear(v, head, null)).ToArray();
    }

    // ---- the building blocks, in double ----

    /// <summary>A projection's output y plus LoRA's Scale·B·(A·x) where <see cref="Lora"/> adapts the module.</summary>
    private double[] Adapted(double[] y, double[] x, string module)
    {
        const string peft = "base_model.model.";
        if (Lora is not { } lora || !lora.Tensors.TryGetValue(peft + module + ".lora_A.weight", out var a)) return y;
        var b = lora.Tensors[peft + module + ".lora_B.weight"];
        int rank = a.Shape[0], inputs = a.Shape[1], outputs = b.Shape[0];
        var h = new double[rank];
        for (int k = 0; k < rank; k++)
            for (int i = 0; i < inputs; i++)
                h[k] += a.Values[k * inputs + i] * x[i];
        var result = (double[])y.Clone();
        for (int o = 0; o < outputs; o++)
        {
            double sum = 0;
            for (int k = 0; k < rank; k++) sum += b.Values[o * rank + k] * h[k];
            result[o] += lora.Scale * sum;
        }
        return result;
    }

    /// <summary>Layer i's keys (or values) of the sequence behind <see cref="Past"/>'s, if any.</summary>
    private double[][] WithPast(int layer, double[][] rows, bool keys) =>
        Past is { } past ? [.. keys ? past[layer].Keys : past[layer].Values, .. rows] : rows;

    /// <summary>
    /// Causal multi-head attention of one sequence: query t, at key index i = t + (past keys), attends keys j ≤ i whose
    /// mask is set and, with a window, i − j &lt; window (transformers' sliding_window_overlay, kv_idx &gt; q_idx −
    /// window); query head h reads key/value head h / (heads / kvHeads) (transformers' repeat_kv). Rows are (heads·D) wide.
    /// </summary>
    private static double[][] Attention(double[][] q, double[][] k, double[][] v, int[] mask, int heads, int kvHeads, int headDim,
        double scale, int window)
    {
        int length = q.Length, group = heads / kvHeads, past = k.Length - q.Length;
        var output = new double[length][];
        for (int t = 0; t < length; t++)
        {
            output[t] = new double[heads * headDim];
            for (int h = 0; h < heads; h++)
            {
                int qo = h * headDim, ko = h / group * headDim;
                var keys = Enumerable.Range(0, past + t + 1).Where(j => mask[j] != 0 && (window == 0 || past + t - j < window)).ToArray();
                if (keys.Length == 0) continue; // a padding query with nothing to attend
                var scores = keys.Select(j =>
                {
                    double dot = 0;
                    for (int e = 0; e < headDim; e++) dot += q[t][qo + e] * k[j][ko + e];
                    return dot * scale;
                }).ToArray();
                double max = scores.Max();
                double[] weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                double sum = weights.Sum();
                for (int a = 0; a < keys.Length; a++)
                    for (int e = 0; e < headDim; e++)
                        output[t][qo + e] += weights[a] / sum * v[keys[a]][ko + e];
            }
        }
        return output;
    }

    /// <summary>
    /// RoPE in transformers' rotate_half layout on the first <paramref name="rotary"/> features of each head:
    /// x' = x·cos + rotate_half(x)·sin with frequencies 1/θ^(2i/R); features past R pass through.
    /// </summary>
    private static void Rope(double[] row, int heads, int headDim, int rotary, int position, double theta)
    {
        int half = rotary / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                double angle = position / Math.Pow(theta, 2.0 * i / rotary);
                int a = h * headDim + i, b = a + half;
                double x1 = row[a], x2 = row[b];
                row[a] = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                row[b] = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
            }
    }

    /// <summary>nn.Linear: y = x·Wᵀ + b with W (out, in).</summary>
    private static double[] Linear(double[] x, ReferenceTensor weight, ReferenceTensor? bias)
    {
        int outF = weight.Shape[0], inF = weight.Shape[1];
        var y = new double[outF];
        for (int o = 0; o < outF; o++)
        {
            double sum = bias is null ? 0 : bias.Values[o];
            for (int i = 0; i < inF; i++) sum += x[i] * weight.Values[o * inF + i];
            y[o] = sum;
        }
        return y;
    }

    /// <summary>transformers' Conv1D: y = x·W + b with W stored (in, out).</summary>
    private static double[] Conv1D(double[] x, ReferenceTensor weight, ReferenceTensor bias)
    {
        int inF = weight.Shape[0], outF = weight.Shape[1];
        var y = new double[outF];
        for (int o = 0; o < outF; o++)
        {
            double sum = bias.Values[o];
            for (int i = 0; i < inF; i++) sum += x[i] * weight.Values[i * outF + o];
            y[o] = sum;
        }
        return y;
    }

    private static double[] LayerNorm(double[] x, ReferenceTensor? weight, ReferenceTensor? bias, double eps)
    {
        double mean = x.Average();
        double variance = x.Select(v => (v - mean) * (v - mean)).Average(); // biased, as nn.LayerNorm
        double rstd = 1.0 / Math.Sqrt(variance + eps);
        return x.Select((v, c) => (v - mean) * rstd * (weight?.Values[c] ?? 1.0) + (bias?.Values[c] ?? 0.0)).ToArray();
    }

    private static double[] RmsNorm(double[] x, ReferenceTensor weight, double eps)
    {
        double rstd = 1.0 / Math.Sqrt(x.Select(v => v * v).Average() + eps);
        return x.Select((v, c) => v * rstd * weight.Values[c]).ToArray();
    }

    private static double[] Row(ReferenceTensor table, int row)
    {
        int width = table.Shape[1];
        if ((uint)row >= (uint)table.Shape[0]) throw new ArgumentException($"row {row} is outside a table of {table.Shape[0]} rows");
        return table.Values.AsSpan(row * width, width).ToArray().Select(v => (double)v).ToArray();
    }

    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    private static double[] Scale(double[] a, double s) => a.Select(v => v * s).ToArray();

    private static int[,] Ones(int batch, int length)
    {
        var ones = new int[batch, length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++) ones[b, t] = 1;
        return ones;
    }

    /// <summary>The stored tensor <paramref name="name"/>, which must have <paramref name="shape"/>.</summary>
    private ReferenceTensor Weight(string name, params int[] shape)
    {
        if (!_weights.TryGetValue(name, out var tensor)) throw new KeyNotFoundException($"checkpoint has no tensor '{name}'");
        if (!tensor.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"tensor '{name}' has shape {tensor}, expected ({string.Join(", ", shape)})");
        return tensor;
    }

    private JsonNode? Value(string key) => _config.TryGetPropertyValue(key, out var node) ? node : null;

    private int Int(string key) => OptionalInt(key) ?? throw new KeyNotFoundException($"config.json has no '{key}'");

    private int? OptionalInt(string key) => Value(key) is JsonNode node ? (int)node : null;

    private double Double(string key, double fallback) => Value(key) is JsonNode node ? (double)node : fallback;

    private bool Bool(string key, bool fallback) => Value(key) is JsonNode node ? (bool)node : fallback;

    private string String(string key, string fallback) => Value(key) is JsonNode node ? (string)node! : fallback;
}
