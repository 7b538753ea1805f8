using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>
    /// A backend whose logits make sequence i choose script[i][n] as its n-th generated token (one-hot logits: the row
    /// after position prompt + n), under a real model's limits and vocabulary: the generation loop's stopping rules,
    /// batching, verification steps and clean-up without a network.
    /// </summary>
    internal sealed class ScriptedBackend : IDecoderBackend
    {
        private readonly IReadOnlyList<int[]> _scripts;
        private readonly Dictionary<DecoderSequence, (int Script, int Prompt)> _at = new Dictionary<DecoderSequence, (int, int)>();
        private int _next;

        public ScriptedBackend(CompiledModel model, params int[][] scripts)
        {
            Model = model;
            _scripts = scripts;
        }

        public CompiledModel Model { get; }
        public string Description => "scripted";
        public int Released { get; private set; }
        public List<int> DecodeBatchSizes { get; } = new List<int>();

        public DecoderSequence NewSequence()
        {
            var sequence = new Sequence(this);
            _at[sequence] = (_next++, -1);
            return sequence;
        }

        public float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => Step(batch);

        public float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch)
        {
            DecodeBatchSizes.Add(batch.Count);
            return Step(batch.Select(b => (b.Sequence, new[] { b.Token })).ToList());
        }

        /// <summary>Verification steps: each sequence's tokens.</summary>
        public List<int[][]> Verified { get; } = new List<int[][]>();

        /// <summary>Rewinds: the length kept.</summary>
        public List<int> Rewound { get; } = new List<int>();

        public float[][][] Verify(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch)
        {
            StepValidation.CheckVerify(Model, batch);
            Verified.Add(batch.Select(b => b.Tokens).ToArray());
            var rows = new float[batch.Count][][];
            for (int s = 0; s < batch.Count; s++)
            {
                var (sequence, tokens) = batch[s];
                rows[s] = Enumerable.Range(0, tokens.Length).Select(i => Row(sequence, sequence.Length + i + 1)).ToArray();
                sequence.Length += tokens.Length;
            }
            return rows;
        }

        public void Rewind(DecoderSequence sequence, int length)
        {
            StepValidation.CheckRewind(sequence, length);
            Rewound.Add(length);
            sequence.Length = length;
        }

        /// <summary>Steps that came with samplers (the loop let the backend sample), by phase.</summary>
        public List<string> SampledSteps { get; } = new List<string>();

        public SampledToken[] PrefillAndSample(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch, IReadOnlyList<Sampler> samplers)
        {
            SampledSteps.Add("prefill");
            return HostSampling.Sample(Prefill(batch), samplers);
        }

        public SampledToken[] DecodeAndSample(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch, IReadOnlyList<Sampler> samplers)
        {
            SampledSteps.Add("decode");
            return HostSampling.Sample(Decode(batch), samplers);
        }

        private float[][] Step(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => batch.Select(b =>
        {
            var (script, prompt) = _at[b.Sequence];
            if (prompt < 0) _at[b.Sequence] = (script, b.Tokens.Length);
            b.Sequence.Length += b.Tokens.Length;
            return Row(b.Sequence, b.Sequence.Length);
        }).ToArray();

        /// <summary>The logits after the sequence's first <paramref name="length"/> tokens: its script's next token.</summary>
        private float[] Row(DecoderSequence sequence, int length)
        {
            var (script, prompt) = _at[sequence];
            var logits = new float[Model.Spec.Model.VocabSize];
            logits[_scripts[script][length - prompt]] = 10f;
            return logits;
        }

        public void Dispose()
        {
        }

        private sealed class Sequence : DecoderSequence
        {
            private readonly ScriptedBackend _owner;
            public Sequence(ScriptedBackend owner) => _owner = owner;
            public override void Dispose() => _owner.Released++;
        }
    }
}
