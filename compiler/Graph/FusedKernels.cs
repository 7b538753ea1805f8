using GraphCompiler.Common;
using GraphCompiler.Spec;

namespace GraphCompiler.Graph
{
    /// <summary>Which emitter writes a kernel.</summary>
    public enum KernelFamily
    {
        Elementwise,
        PrefillAttention,
        DecodeAttention,
        Gemm,
        Sampling,
    }

    /// <summary>
    /// A kernel the runtime launches, after fusion: everything that specialises its source (shapes, dtypes, scheme,
    /// which ops it absorbed). Two uses with equal descriptors share one kernel.
    /// </summary>
    public abstract record FusedKernel(string Name)
    {
        public abstract KernelFamily Family { get; }

        /// <summary>One line for plan tables: what the kernel computes.</summary>
        public abstract string Summary { get; }
    }

    /// <summary>residual[t] = table[token_ids[t]] (FP8 tables dequantized with their per-row or per-tensor scale).</summary>
    public sealed record EmbeddingGatherKernel(string Name, int Hidden, int Vocab, DType Activation, QuantScheme Table) : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Elementwise;
        public override string Summary => $"embedding gather [{Vocab}×{Hidden}] {Table.Describe()}";
    }

    /// <summary>
    /// RMSNorm of each row, optionally adding the residual delta first (residual += delta, in place), reading only the
    /// rows listed in last_token_rows (final norm), and writing FP8 with a per-row scale for a W8A8 GEMM that follows.
    /// </summary>
    public sealed record RmsNormKernel(
        string Name, int Hidden, double Eps, DType Activation, bool AddResidual, bool GatherRows, bool WriteDense, bool WriteFp8)
        : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Elementwise;
        public override string Summary =>
            (AddResidual ? "residual add + " : "") + $"RMSNorm h={Hidden}" + (GatherRows ? " (last token of each sequence)" : "")
            + (WriteFp8 ? (WriteDense ? " → dense + FP8 per-token" : " → FP8 per-token") : "");
    }

    /// <summary>Rotary embedding (rotate-half, Llama) applied in place to the Q and K columns of the qkv buffer.</summary>
    public sealed record RopeKernel(string Name, int Heads, int KvHeads, int HeadDim, double Theta, DType Activation, int RowStride)
        : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Elementwise;
        public override string Summary => $"RoPE q {Heads}×{HeadDim}, k {KvHeads}×{HeadDim}, θ={Theta}";
    }

    /// <summary>mlp_act = silu(gate) · up over the [gate | up] halves of the gate_up buffer.</summary>
    public sealed record SwiGluKernel(string Name, int Intermediate, DType Activation, bool WriteFp8) : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Elementwise;
        public override string Summary => $"SwiGLU i={Intermediate}" + (WriteFp8 ? " → FP8 per-token" : "");
    }

    /// <summary>Expands a checkpoint-layout quantized weight to a dense [N, K] matrix (reference checks and the large-M fallback).</summary>
    public sealed record WeightDequantKernel(string Name, int K, int N, QuantScheme Scheme, DType Output) : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Elementwise;
        public override string Summary => $"dequantize {Scheme.Describe()} [{N}×{K}] → {Output.SpecName()}";
    }

    public enum GemmEpilogue { Store, AddResidual, SwiGlu }

    /// <summary>
    /// y[M, N] = x[M, K] · W[N, K]ᵀ in the given scheme; K and N are baked in, M (the rows of its input) is the launch's.
    /// One kernel serves every module of that scheme and shape, so which modules a launch multiplies (and so where in its
    /// output buffer it writes) belongs to the launch (<see cref="PlannedLaunch.Modules"/>). Modules fused into one GEMM
    /// share its scheme; per-tensor FP8 scales of fused modules become one scale per output channel at load.
    /// <paramref name="Output"/> is the activation dtype, or fp32 for the logits.
    /// </summary>
    public sealed record GemmKernel(
        string Name, int K, int N, QuantScheme Scheme, DType Activation, TileFamily Tiles, GemmEpilogue Epilogue, int OutputStride, DType Output)
        : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Gemm;
        public override string Summary => $"GEMM K={K} N={N} {Scheme.Describe()}" + (Epilogue == GemmEpilogue.Store ? "" : " + " + Epilogue)
            + (Tiles.IsDecodeBatch() ? " (decode steps of many sequences)" : "");

        /// <summary>Whether this is a few-row decode GEMM, which has a <see cref="BatchTwin"/>.</summary>
        public bool HasBatchTwin => Tiles.IsDecodeGemm() && !Tiles.IsDecodeBatch();

        /// <summary>The same GEMM with its family's batch tiles (<see cref="TileFamilies.Batch"/>), which a decode step with
        /// more rows than the few-row tile's block_m launches instead; the plan carries both.</summary>
        public GemmKernel BatchTwin() => this with { Name = Name + "_batch", Tiles = Tiles.Batch() };

        /// <summary>The kernel a step of <paramref name="rows"/> rows launches for this GEMM (<see cref="TileFamilies.ForRows"/>).</summary>
        public GemmKernel ForRows(ArchTiles tiles, int rows) => Tiles.ForRows(tiles, rows) == Tiles ? this : BatchTwin();
    }

    /// <summary>FlashAttention-2 over the ragged prompt tokens (causal, GQA), with RoPE in its prologue and the KV-cache write fused.</summary>
    /// <remarks>With <paramref name="WriteFp8"/> the output is FP8 with a per-token scale, for a W8A8 o_proj.</remarks>
    public sealed record PrefillAttentionKernel(
        string Name, int Heads, int KvHeads, int HeadDim, DType Activation, DType KvDType, int BlockSize, double Theta, bool WriteFp8)
        : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.PrefillAttention;
        public override string Summary => $"prefill attention (RoPE + KV write + FA2) q {Heads}, kv {KvHeads}, d {HeadDim}, cache {KvDType.SpecName()}"
            + (WriteFp8 ? " → FP8 per-token" : "");
    }

    /// <summary>Paged decode attention (flash-decoding split-K), GQA-grouped, with the new token's K/V written first; with
    /// <see cref="WithRope"/> the new token's Q and K are rotated (RoPE, θ = <see cref="Theta"/>) as they are read. With
    /// <see cref="Wide"/> it is the twin on the wide tiles (<see cref="ArchTiles.DecodeAttentionWide"/>) that steps of few
    /// sequences launch instead.</summary>
    public sealed record DecodeAttentionKernel(
        string Name, int Heads, int KvHeads, int HeadDim, DType Activation, DType KvDType, int BlockSize, double Theta, bool WithRope, bool WriteFp8,
        bool Wide = false)
        : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.DecodeAttention;

        /// <summary>The query columns a CTA takes: its GQA group for each of its step tokens.</summary>
        public DecodeQueries Queries => new DecodeQueries(Heads / KvHeads);

        /// <summary>The tile family this kernel is emitted with.</summary>
        public TileFamily Tiles => Wide ? TileFamily.DecodeAttentionWide : TileFamily.DecodeAttention;

        /// <summary>The same attention on the wide tiles; the plan carries it where a spec names them.</summary>
        public DecodeAttentionKernel WideTwin() => this with { Name = Name + "_wide", Wide = true };

        public override string Summary => $"decode attention ({(WithRope ? "RoPE + " : "")}KV write + paged split-K) q {Heads}, kv {KvHeads}, d {HeadDim}, cache {KvDType.SpecName()}"
            + (WriteFp8 ? " → FP8 per-token" : "") + (Wide ? " (decode steps of few sequences: wide CTAs)" : "");
    }

    /// <summary>
    /// Chooses each sequence's next token from its logits row on the device (penalties, temperature, top-k, top-p, min-p,
    /// the seeded draw or greedy argmax, and the chosen token's log-probability), as the host <c>Sampler</c> does.
    /// </summary>
    public sealed record SamplingKernel(string Name, int Vocab) : FusedKernel(Name)
    {
        public override KernelFamily Family => KernelFamily.Sampling;
        public override string Summary => $"sampling over {Vocab} logits (penalties, temperature, top-k, top-p, min-p, seeded draw or greedy)";
    }

    /// <summary>An activation buffer of the step workspace; rows scale with the step's tokens (T) or sequences (S).</summary>
    public sealed record ActivationBuffer(string Name, string Rows, int Columns, DType DType)
    {
        public long Bytes(int tokens, int sequences) => (long)(Rows == "S" ? sequences : tokens) * Columns * DType.SizeInBytes();
    }
}
