using MeZO.Engine.Backends.Cuda.Compilation;

namespace MeZO.Engine.Backends.Cuda.Ops;

/// <summary>Every kernel file the CUDA backend uses, and the IBackend or IBackwardOps op(s) each serves.</summary>
internal static class KernelCatalog
{
    public static readonly KernelFile Embedding = new("embedding.cu", ["mezo_embedding"], []);
    public static readonly KernelFile LayerNorm = new("layernorm.cu", ["mezo_layernorm"], []);
    public static readonly KernelFile RmsNorm = new("rmsnorm.cu", ["mezo_rmsnorm"], []);
    public static readonly KernelFile Rope = new("rope.cu", ["mezo_rope"], []);
    public static readonly KernelFile KvAppend = new("kv_append.cu", ["mezo_kv_append"], []);
    public static readonly KernelFile Attention = new("attention.cu", ["mezo_attention"], []) { Defines = CudaAttention.Defines };
    /// <summary>Attention for bf16/f16 activations on tensor cores (compute capability 8.0); attention.cu serves float32.</summary>
    public static readonly KernelFile FlashAttention = new("flash_attention.cu",
        ["mezo_flash_attention_64", "mezo_flash_attention_128", "mezo_flash_attention_256"], []) { Defines = CudaFlashAttention.Defines };
    public static readonly KernelFile Activation = new("activation.cu", ["mezo_relu", "mezo_gelu_tanh", "mezo_gelu_erf", "mezo_silu"], []);
    public static readonly KernelFile SiluMul = new("silu_mul.cu", ["mezo_silu_mul"], []);
    /// <summary>No fused multiply-add: a scaled add must round as the CPU's fl(x + fl(scale·y)).</summary>
    public static readonly KernelFile Add = new("add.cu", ["mezo_add", "mezo_add_scaled"], ["--fmad=false"]);
    public static readonly KernelFile SliceColumns = new("slice_columns.cu", ["mezo_slice_columns"], []);
    public static readonly KernelFile GatherRows = new("gather_rows.cu", ["mezo_gather_rows"], []);
    public static readonly KernelFile LogSoftmaxGather = new("log_softmax_gather.cu", ["mezo_log_softmax_gather", "mezo_log_softmax_accumulate"], []);
    public static readonly KernelFile Argmax = new("argmax.cu", ["mezo_argmax"], []);
    public static readonly KernelFile Convert = new("convert.cu", ["mezo_convert"], []);
    public static readonly KernelFile GemmSimt =
        new("gemm_simt.cu", ["mezo_gemm_simt"], []) { Defines = CudaLinear.SimtDefines };
    public static readonly KernelFile GemmMma =
        new("gemm_mma.cu", ["mezo_gemm_mma_bf16", "mezo_gemm_mma_f16"], []) { Defines = CudaLinear.MmaDefines };

    /// <summary>No fused multiply-add: perturbed reads and updates must round exactly as the CPU backend's.</summary>
    public static readonly KernelFile Perturbation = new("perturbation.cu",
        new[] { "f32_exact", "f16_exact", "bf16_exact", "f32_fast", "f16_fast", "bf16_fast" }
            .SelectMany(s => new[] { "mezo_perturbed_copy_" + s, "mezo_update_" + s })
            .Concat(["mezo_perturbed_embedding_exact", "mezo_perturbed_embedding_fast"])
            .Concat(new[] { "f16_exact", "bf16_exact", "f16_fast", "bf16_fast" }.Select(s => "mezo_perturbed_pair_" + s)).ToArray(),
        ["--fmad=false"]);

    // The backward ops (IBackwardOps); each file's CPU twin is the CPU backend's op of the same name.
    public static readonly KernelFile RowsBackward = new("rows_backward.cu",
        ["mezo_embedding_backward", "mezo_gather_rows_backward", "mezo_slice_columns_backward"], []);
    public static readonly KernelFile NormBackward = new("norm_backward.cu",
    [
        "mezo_layernorm_backward_stats", "mezo_rmsnorm_backward_stats", "mezo_norm_backward_partials", "mezo_layernorm_backward_input",
        "mezo_rmsnorm_backward_input",
    ], []);
    public static readonly KernelFile ColumnSums = new("column_sums.cu", ["mezo_column_sums_partial", "mezo_column_sums_finish"], []);
    public static readonly KernelFile Transpose = new("transpose.cu", ["mezo_transpose"], []) { Defines = CudaLinearBackward.TransposeDefines };
    /// <summary>No fused multiply-add: the inverse rotation rounds as the CPU twin's a·cos + b·sin.</summary>
    public static readonly KernelFile RopeBackward = new("rope_backward.cu", ["mezo_rope_backward"], ["--fmad=false"]);
    public static readonly KernelFile AttentionBackward = new("attention_backward.cu",
        ["mezo_attention_backward_query", "mezo_attention_backward_key"], []) { Defines = CudaAttentionBackward.Defines };
    /// <summary>No fused multiply-add: each derivative rounds as the CPU twin's sequence of operations.</summary>
    public static readonly KernelFile ElementwiseBackward = new("elementwise_backward.cu",
        ["mezo_relu_backward", "mezo_gelu_tanh_backward", "mezo_gelu_erf_backward", "mezo_silu_backward", "mezo_silu_mul_backward"],
        ["--fmad=false"]);
    public static readonly KernelFile LogSoftmaxGatherBackward =
        new("log_softmax_gather_backward.cu", ["mezo_log_softmax_gather_backward"], []);

    /// <summary>No fused multiply-add: an update must round as the CPU's CpuOptimizer does.</summary>
    public static readonly KernelFile Optimizer = new("optimizer.cu",
        ["mezo_sgd_update", "mezo_adamw_update", "mezo_widen", "mezo_scale", "mezo_sum_of_squares"], ["--fmad=false"]);

    public static IReadOnlyList<KernelFile> All { get; } =
    [
        Embedding, LayerNorm, RmsNorm, Rope, KvAppend, Attention, FlashAttention, Activation, SiluMul, Add, SliceColumns, GatherRows,
        LogSoftmaxGather, Argmax, Convert, GemmSimt, GemmMma, Perturbation,
        RowsBackward, NormBackward, ColumnSums, Transpose, RopeBackward, AttentionBackward, ElementwiseBackward, LogSoftmaxGatherBackward,
        Optimizer,
    ];

    /// <summary>
    /// The kernel files behind each IBackend, IBackwardOps and IOptimizerOps op (Linear may also run on cuBLASLt, which still uses
    /// convert.cu to stage its operands; PerturbedLinear writes W + scale·z with perturbation.cu, then runs Linear's
    /// path; LinearBackward runs Linear's path on transposed operands).
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<KernelFile>> ByOperation { get; } =
        new Dictionary<string, IReadOnlyList<KernelFile>>(StringComparer.Ordinal)
        {
            ["Embedding"] = [Embedding],
            ["LayerNorm"] = [LayerNorm],
            ["RmsNorm"] = [RmsNorm],
            ["Linear"] = [GemmSimt, GemmMma, Convert],
            ["Rope"] = [Rope],
            ["KvAppend"] = [KvAppend],
            ["Attention"] = [Attention, FlashAttention],
            ["Activation"] = [Activation],
            ["SiluMul"] = [SiluMul],
            ["Add"] = [Add],
            ["AddScaled"] = [Add],
            ["SliceColumns"] = [SliceColumns],
            ["GatherRows"] = [GatherRows],
            ["LogSoftmaxGather"] = [LogSoftmaxGather],
            ["LogSoftmaxAccumulate"] = [LogSoftmaxGather],
            ["Argmax"] = [Argmax],
            ["PerturbedCopy"] = [Perturbation],
            ["PerturbedEmbedding"] = [Perturbation],
            ["PerturbedLinear"] = [Perturbation, GemmSimt, GemmMma, Convert],
            ["MezoUpdate"] = [Perturbation],
            ["EmbeddingBackward"] = [RowsBackward],
            ["LayerNormBackward"] = [NormBackward, ColumnSums],
            ["RmsNormBackward"] = [NormBackward, ColumnSums],
            ["LinearBackward"] = [GemmSimt, GemmMma, Convert, Transpose, Add, ColumnSums],
            ["RopeBackward"] = [RopeBackward],
            ["AttentionBackward"] = [AttentionBackward],
            ["ActivationBackward"] = [ElementwiseBackward],
            ["SiluMulBackward"] = [ElementwiseBackward],
            ["LogSoftmaxGatherBackward"] = [LogSoftmaxGatherBackward],
            ["SliceColumnsBackward"] = [RowsBackward],
            ["GatherRowsBackward"] = [RowsBackward],
            ["Zero"] = [],
            ["SumOfSquares"] = [Optimizer],
            ["Scale"] = [Optimizer],
            ["WidenToMaster"] = [Optimizer],
            ["SgdUpdate"] = [Optimizer],
            ["AdamWUpdate"] = [Optimizer],
        };
}
