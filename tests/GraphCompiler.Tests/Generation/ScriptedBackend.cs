using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;

namespace GraphCompiler.Tests.Generation
{
    /// <summary>
    /// A backend whose logits make sequence i choose script[i][n] at its n-th step (one-hot logits), under a real
    /// model's limits and vocabulary: the generation loop's stopping rules, batching and clean-up without a network.
    /// </summary>
    internal sealed class ScriptedBackend : IDecoderBackend
    {
        private readonly IReadOnlyList<int[]> _scripts;
        private readonly Dictionary<DecoderSequence, (int Script, int Step)> _at = new Dictionary<DecoderSequence, (int, int)>();
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
            _at[sequence] = (_next++, 0);
            return sequence;
        }

        public float[][] Prefill(IReadOnlyList<(DecoderSequence Sequence, int[] Tokens)> batch) => Step(batch);

        public float[][] Decode(IReadOnlyList<(DecoderSequence Sequence, int Token)> batch)
        {
            DecodeBatchSizes.Add(batch.Count);
            return Step(batch.Select(b => (b.Sequence, new[] { b.Token })).ToList());
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
            var (script, step) = _at[b.Sequence];
            b.Sequence.Length += b.Tokens.Length;
            _at[b.Sequence] = (script, step + 1);
            var logits = new float[Model.Spec.Model.VocabSize];
            logits[_scripts[script][step]] = 10f;
            return logits;
        }).ToArray();

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
