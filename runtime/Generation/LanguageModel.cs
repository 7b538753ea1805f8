using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Sampling;
using GraphCompiler.Runtime.Text;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>How a model is loaded: which backend (auto takes the GPU when one can run the spec), CUDA graphs for decode,
    /// tuned tiles from the tuning database where it has them for this GPU, where notes go, and who hears of the weights'
    /// upload and the kernels' compilation.</summary>
    public sealed record LoadOptions(BackendKind Backend = BackendKind.Auto, bool CudaGraphs = true, bool TunedTiles = true, Action<string>? Log = null,
        IProgress<LoadProgress>? Progress = null);

    /// <summary>
    /// A loaded model with its tokenizer, ready to generate: what a generated model class's <c>Load(path)</c> returns.
    /// Requests run one at a time (a second waits for the first); prompts of one call run together as a batch, in groups of
    /// limits.max_num_seqs.
    /// </summary>
    public sealed class LanguageModel : IDisposable
    {
        private readonly OpenedBackend _opened;
        private readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);

        private LanguageModel(OpenedBackend opened, LlamaTextTokenizer tokenizer)
        {
            _opened = opened;
            Tokenizer = tokenizer;
        }

        public CompiledModel Model => _opened.Backend.Model;
        public LlamaTextTokenizer Tokenizer { get; }

        /// <summary>One line: device, spec, numerics.</summary>
        public string Description => _opened.Backend.Description;

        public bool OnGpu => _opened.Device != null;

        /// <summary>
        /// Compiles the spec, reads the checkpoint at <paramref name="checkpointPath"/> (a safetensors folder with its
        /// tokenizer.model, quantized on load where the spec asks) and opens the backend. A checkpoint that does not match
        /// the spec throws <see cref="CheckpointException"/> listing every difference; no tokenizer, <see cref="FileNotFoundException"/>.
        /// </summary>
        public static LanguageModel Load(string specFile, string specYaml, string checkpointPath, LoadOptions? options = null)
        {
            options ??= new LoadOptions();
            var log = options.Log ?? (_ => { });
            var (parse, model) = ModelCompiler.Compile(specFile, specYaml);
            if (model is null)
                throw new InvalidDataException($"{specFile}: " + string.Join("; ", parse.Diagnostics.Where(d => d.IsError).Select(d => d.ToString())));
            var tokenizer = LlamaTextTokenizer.Open(checkpointPath);
            var clock = Stopwatch.StartNew();
            OpenedBackend opened;
            using (var checkpoint = Checkpoint.Open(checkpointPath))
            {
                var weights = CheckpointLoader.ByRank(rank => CheckpointLoader.Load(checkpoint, model, parse.SourceMap, out _, rank));
                log($"{model.Spec.Name}: weights read from {checkpointPath} in {clock.Elapsed.TotalSeconds:0.00} s");
                opened = BackendSelection.Open(options.Backend, model, specFile, specYaml, weights, new GpuModelOptions(CudaGraphs: options.CudaGraphs, Progress: options.Progress), options.TunedTiles, log);
            }
            log(opened.Backend.Description);
            return new LanguageModel(opened, tokenizer);
        }

        public GenerationResult Generate(string prompt, GenerationParams? parameters = null) => Generate(new[] { prompt }, parameters)[0];

        public GenerationResult Generate(string prompt, SamplingParams sampling, int maxTokens = 64) =>
            Generate(prompt, new GenerationParams(maxTokens, sampling));

        public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<string> prompts, SamplingParams sampling, int maxTokens = 64) =>
            Generate(prompts, new GenerationParams(maxTokens, sampling));

        /// <summary>Every prompt's completion, in order; prompt i samples with seed Sampling.Seed + i.</summary>
        public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<string> prompts, GenerationParams? parameters = null) =>
            GenerateTokens(prompts.Select(Tokenizer.Encode).ToList(), parameters);

        /// <summary>As <see cref="Generate(IReadOnlyList{string}, GenerationParams?)"/>, from token ids (a chat template's, say).</summary>
        public IReadOnlyList<GenerationResult> GenerateTokens(IReadOnlyList<int[]> encoded, GenerationParams? parameters = null)
        {
            parameters ??= new GenerationParams();
            var results = new GenerationResult[encoded.Count];
            int group = Model.Spec.Limits.MaxNumSeqs;
            _gate.Wait();
            try
            {
                for (int first = 0; first < encoded.Count; first += group)
                {
                    var batch = encoded.Skip(first).Take(group).ToList();
                    var sampling = parameters.SamplingOrGreedy;
                    var shifted = parameters with { Sampling = sampling with { Seed = sampling.Seed + (ulong)first } };
                    var tokens = batch.Select(_ => new List<GeneratedToken>()).ToList();
                    var clock = Stopwatch.StartNew();
                    foreach (var token in GenerationLoop.Run(_opened.Backend, batch, shifted, Tokenizer)) tokens[token.Sequence].Add(token);
                    for (int i = 0; i < batch.Count; i++)
                        results[first + i] = new GenerationResult(string.Concat(tokens[i].Select(t => t.Text)), batch[i], tokens[i].Select(t => t.Id).ToList(),
                            tokens[i].Select(t => t.Logprob).ToList(), tokens[i][tokens[i].Count - 1].Finish!.Value, clock.Elapsed);
                }
            }
            finally
            {
                _gate.Release();
            }
            return results;
        }

        /// <summary>
        /// The completion of one prompt token by token, each with the text it adds, as it is generated. Leaving the loop
        /// early ends generation and frees the sequence; cancellation is checked between tokens.
        /// </summary>
        public IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(string prompt, GenerationParams? parameters = null, CancellationToken cancellationToken = default) =>
            GenerateTokensStreamingAsync(Tokenizer.Encode(prompt), parameters, cancellationToken);

        /// <summary>As <see cref="GenerateStreamingAsync"/>, from token ids.</summary>
        public async IAsyncEnumerable<GeneratedToken> GenerateTokensStreamingAsync(int[] ids, GenerationParams? parameters = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var token in GenerationLoop.Run(_opened.Backend, new[] { ids }, parameters ?? new GenerationParams(), Tokenizer))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return token;
                    // Steps run on the caller's thread; yield so a consumer awaiting on a single-threaded context keeps going.
                    await Task.Yield();
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>This model as Microsoft.Extensions.AI's chat client (Llama-2-chat's template); the model stays this object's to dispose.</summary>
        public LanguageModelChatClient AsChatClient() => new LanguageModelChatClient(this);

        public void Dispose()
        {
            _opened.Dispose();
            _gate.Dispose();
        }
    }
}
