using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Graph;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>A sequence's state in a backend: how many of its tokens the KV cache holds (the next token's position).</summary>
    public abstract class DecoderSequence : IDisposable
    {
        public int Length { get; internal set; }

        /// <summary>Releases what the sequence holds in its backend (KV blocks); the sequence cannot step again.</summary>
        public virtual void Dispose() { }
    }

    /// <summary>
    /// What generation needs of a backend, CPU or GPU: sequences, a ragged prefill step and a decode step, each returning
    /// the fp32 logits of every sequence's last token. Both run the same compiled launch plan.
    /// </summary>
    public interface IDecoderBackend : IDisposable
    {
        CompiledModel Model { get; }

        /// <summary>One line for logs: which device, which numerics.</summary>
        string Description { get; }

        DecoderSequence NewSequence();

        float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch);

        float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch);

        /// <summary>
        /// A decode step in which each sequence brings 1 to <see cref="DecodeQueries.MaxStepTokens"/> tokens — its next token,
        /// then draft tokens to verify (speculative decoding) — at most limits.max_num_seqs tokens in all: the fp32 logits
        /// of every token, per sequence, each token seeing its sequence up to itself. The cache keeps every token;
        /// <see cref="Rewind"/> drops the rejected ones.
        /// </summary>
        float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch);

        /// <summary>Keeps the sequence's first <paramref name="length"/> tokens (0 to its Length; speculative decoding drops
        /// the draft tokens it rejected): the next step continues from there, and KV blocks past it are freed.</summary>
        void Rewind(DecoderSequence sequence, int length);

        /// <summary>What the backend would refuse a step for that <see cref="StepValidation"/> does not see, thrown before
        /// anything runs: more KV blocks than are free (<see cref="Kv.KvCacheExhaustedException"/>), more sequences than
        /// limits.max_num_seqs, or <paramref name="samplers"/> (when the step samples) that do not fit the batch or its
        /// penalty state. A backend with no such bounds checks nothing.</summary>
        void CheckRoom(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler>? samplers) { }

        /// <summary>A step whose logits nobody reads (a tensor-parallel rank after the first): by default they are made and
        /// dropped. A decode step may bring several tokens a sequence (a verification).</summary>
        void Advance(Phase phase, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            if (phase == Phase.Prefill) Prefill(batch);
            else if (batch.All(b => b.Tokens.Length == 1)) Decode(batch.Select(b => (b.Sequence, b.Tokens[0])).ToList());
            else Verify(batch);
        }

        /// <summary>A prefill step, then each sequence's next token chosen by its sampler (which records it). A backend that
        /// samples on its device overrides this and returns only the choices; by default the host samples the logits.</summary>
        SampledToken[] PrefillAndSample(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler> samplers) =>
            HostSampling.Sample(Prefill(batch), samplers);

        /// <summary>A decode step, then each sequence's next token chosen by its sampler, as <see cref="PrefillAndSample"/>.</summary>
        SampledToken[] DecodeAndSample(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch, IReadOnlyList<Sampler> samplers) =>
            HostSampling.Sample(Decode(batch), samplers);
    }

    /// <summary>Sampling on the host over a step's logits: each sequence's sampler, the batch's on all cores.</summary>
    public static class HostSampling
    {
        public static SampledToken[] Sample(float[][] logits, IReadOnlyList<Sampler> samplers)
        {
            if (samplers.Count != logits.Length) throw new ArgumentException($"{samplers.Count} samplers for {logits.Length} sequences", nameof(samplers));
            var picks = new SampledToken[logits.Length];
            System.Threading.Tasks.Parallel.For(0, logits.Length, j => picks[j] = samplers[j].Next(logits[j]));
            return picks;
        }
    }

    /// <summary>The checks every backend makes before a step, with the messages a user can act on.</summary>
    public static class StepValidation
    {
        /// <summary>What a verification step (<see cref="IDecoderBackend.Verify"/>) may hold beyond a decode step's rules:
        /// 1 to <see cref="DecodeQueries.MaxStepTokens"/> tokens a sequence, at most limits.max_num_seqs in all (the decode
        /// workspace's rows).</summary>
        public static void CheckVerify(CompiledModel model, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            int most = DecodeQueries.MaxStepTokens, rows = model.Spec.Limits.MaxNumSeqs;
            foreach (var (_, tokens) in batch)
                if (tokens is { Length: > DecodeQueries.MaxStepTokens })
                    throw new ArgumentException($"a sequence brings {tokens.Length} tokens to a verification step; at most {most} (its next token and {most - 1} draft tokens)", nameof(batch));
            int total = batch.Sum(b => b.Tokens?.Length ?? 0);
            if (total > rows)
                throw new ArgumentException($"{total} tokens in one verification step, more than limits.max_num_seqs ({rows}), the rows a decode step has room for; verify fewer sequences at once", nameof(batch));
        }

        /// <summary>A <see cref="IDecoderBackend.Rewind"/> keeps 0 to Length tokens.</summary>
        public static void CheckRewind(DecoderSequence sequence, int length)
        {
            if (length < 0 || length > sequence.Length)
                throw new ArgumentOutOfRangeException(nameof(length), length, $"the sequence holds {sequence.Length} tokens; rewinding keeps 0 to {sequence.Length} of them");
        }

        /// <summary>A verification step's logits rows (every token, in step order) as each sequence's rows.</summary>
        public static float[][][] BySequence(float[][] rows, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            var result = new float[batch.Count][][];
            for (int s = 0, row = 0; s < batch.Count; row += batch[s].Tokens.Length, s++) result[s] = rows.AsSpan(row, batch[s].Tokens.Length).ToArray();
            return result;
        }

        /// <param name="owned">Whether a sequence belongs to the backend running the step.</param>
        public static void Check(CompiledModel model, Phase phase, IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, Func<DecoderSequence, bool> owned)
        {
            if (batch.Count == 0) throw new ArgumentException("a step needs at least one sequence", nameof(batch));
            var limits = model.Spec.Limits;
            int vocab = model.Spec.Model.VocabSize;
            var seen = new HashSet<DecoderSequence>();
            foreach (var (sequence, tokens) in batch)
            {
                if (sequence is null || tokens is null) throw new ArgumentNullException(nameof(batch), "a sequence or its tokens is null");
                if (!owned(sequence)) throw new ArgumentException("the sequence belongs to another model (or was disposed)", nameof(batch));
                if (!seen.Add(sequence)) throw new ArgumentException("a sequence appears twice in one step", nameof(batch));
                if (tokens.Length == 0) throw new ArgumentException("no tokens to run", nameof(batch));
                foreach (int id in tokens)
                    if (id < 0 || id >= vocab)
                        throw new ArgumentException($"token id {id} is outside the vocabulary: vocab_size is {vocab}, so ids are 0..{vocab - 1}", nameof(batch));
                if (phase == Phase.Prefill && sequence.Length == 0 && tokens.Length > limits.MaxInputLen)
                    throw new ArgumentException($"the prompt has {tokens.Length} tokens, more than limits.max_input_len ({limits.MaxInputLen})", nameof(batch));
                if (sequence.Length + tokens.Length > limits.MaxSeqLen)
                    throw new ArgumentException($"the sequence would be {sequence.Length + tokens.Length} tokens long, more than limits.max_seq_len ({limits.MaxSeqLen})", nameof(batch));
            }
        }
    }
}
