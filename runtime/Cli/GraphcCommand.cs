using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using GraphCompiler.Models;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Sampling;
using Spectre.Console;

namespace GraphCompiler.Runtime.Cli
{
    /// <summary>The graphc command line: validate, plan, emit, compile, selftest, bench, tune, run, generate, eval-ppl, inspect, load, specs. Exit codes in <see cref="ExitCodes"/>.</summary>
    public static class GraphcCommand
    {
        public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

        public static int Run(string[] args, TextWriter output, TextWriter error)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(output),
                Ansi = output == Console.Out ? AnsiSupport.Detect : AnsiSupport.No,
                ColorSystem = output == Console.Out ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            });
            if (output != Console.Out || Console.IsOutputRedirected) console.Profile.Width = 120;
            var root = Build(console, output);
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                foreach (var e in parse.Errors) error.WriteLine("graphc: " + e.Message);
                error.WriteLine("Run 'graphc --help' for usage.");
                return ExitCodes.Usage;
            }
            try
            {
                return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
            }
            catch (CliException e)
            {
                error.WriteLine("graphc: " + e.Message);
                return e.ExitCode;
            }
        }

        private static RootCommand Build(IAnsiConsole console, TextWriter output)
        {
            var spec = new Argument<string>("spec") { Description = "a spec file (specs/llama2-70b.yaml) or the name of a built-in spec (llama2-70b)" };
            var arch = new Option<string>("--arch") { Description = "sm_80, sm_86, sm_89, sm_90, sm_90a or all", DefaultValueFactory = _ => "sm_90" };

            var validate = new Command("validate", "Check a spec and print every problem with its file:line:col") { spec };
            validate.SetAction(r => ValidateCommand.Run(r.GetValue(spec)!, console));

            var gpuMemory = new Option<string?>("--gpu-memory") { Description = "the GPU's memory, e.g. 16GiB (the budget is gpu_memory_utilization of it)" };
            var maxSeqLen = new Option<int?>("--max-seq-len") { Description = "plan for this max_seq_len instead of the spec's" };
            var pcie = new Option<double>("--pcie-gbps") { Description = "host-to-device bandwidth for streaming estimates, GB/s", DefaultValueFactory = _ => 25.0 };
            var json = new Option<bool>("--json") { Description = "print the plan as JSON" };
            var planTp = new Option<int?>("--tp") { Description = "plan for this many GPUs of one host (tensor parallel) instead of the spec's parallel.tensor: every figure is one GPU's" };
            var plan = new Command("plan", "How much memory the model needs, and whether and how it fits a budget") { spec, gpuMemory, maxSeqLen, planTp, pcie, json };
            plan.SetAction(r => PlanCommand.Run(r.GetValue(spec)!, r.GetValue(gpuMemory), r.GetValue(maxSeqLen), r.GetValue(pcie), r.GetValue(json), console, output, r.GetValue(planTp)));

            var outDir = new Option<string>("--out") { Description = "folder for the .cu files", Required = true };
            var emit = new Command("emit", "Write every emitted kernel as a .cu file") { spec, arch, outDir };
            emit.SetAction(r => EmitCommand.Run(r.GetValue(spec)!, r.GetValue(arch)!, r.GetValue(outDir)!, console));

            var cubin = new Option<bool>("--cubin") { Description = "store the CUBINs in the kernel cache (GRAPHC_CACHE_DIR), ahead of a run" };
            var compile = new Command("compile", "Compile every emitted kernel with NVRTC (no GPU needed)") { spec, arch, cubin };
            compile.SetAction(r => CompileCommand.Run(r.GetValue(spec)!, r.GetValue(arch)!, r.GetValue(cubin), console));

            var seed = new Option<int?>("--seed") { Description = "seed for the random inputs (default: a fresh one, printed)" };
            var specOrAll = new Argument<string?>("spec") { Description = "a spec file or built-in spec name (default: every built-in spec)", Arity = ArgumentArity.ZeroOrOne };
            var kernelsFilter = new Option<string?>("--kernels") { Description = "only kernels whose names start with one of these, e.g. prefill_attention,decode_attention" };
            var selftest = new Command("selftest", "Check every emitted kernel on this GPU against the CPU reference") { specOrAll, seed, kernelsFilter };
            selftest.SetAction(r => SelfTestCommand.Run(r.GetValue(specOrAll) is string one ? new[] { one } : SpecCatalog.All.Select(e => e.Name).ToArray(),
                r.GetValue(seed), r.GetValue(kernelsFilter), console));

            var peer = new Option<string?>("--peer") { Description = "PyTorch timings of the same work (from tests/reference/peer_bench.py)" };
            var gemmShapes = new Option<string?>("--gemm-shapes") { Description = "instead of the spec's kernels, sweep its GEMM schemes over K×N shapes, e.g. 8192x8192,28672x8192" };
            var gemmRows = new Option<string>("--rows") { Description = "row counts M for --gemm-shapes", DefaultValueFactory = _ => "1,3,16,77,256,4096" };
            var gemmTiles = new Option<string?>("--gemm-tiles") { Description = "tiles for --gemm-shapes instead of the spec's: FAMILY=block_m,block_n,block_k,warps,stages,split_k;…" };
            var attentionPoints = new Option<string?>("--attention-points") { Description = "instead of the spec's kernels, its decode attention at BATCHxCONTEXT points, e.g. 1x4096,16x2048,64x1024" };
            var prefillPoints = new Option<string?>("--prefill-points") { Description = "instead of the spec's kernels, its prefill attention at BATCHxTOKENS points (whole prompts), e.g. 1x1024,1x4096,1x8192" };
            var tiles = new Option<string>("--tiles") { Description = "GPU tiles: auto (tuned ones where graphc tune recorded them for this GPU, driver and NVRTC; the spec's otherwise) or spec", DefaultValueFactory = _ => GpuCommands.TunedOrSpecTiles };
            var synthetic = new Option<bool>("--synthetic") { Description = "instead of kernels, the whole model end to end with random weights made on the GPU: prefill and decode tokens/s" };
            var benchPrompts = new Option<string>("--prompts") { Description = "--synthetic: prompt lengths to prefill", DefaultValueFactory = _ => "1024,4096" };
            var benchBatches = new Option<string>("--batches") { Description = "--synthetic: decode batch sizes", DefaultValueFactory = _ => "1,8,32,64" };
            var benchContext = new Option<int>("--context") { Description = "--synthetic: tokens each decoding sequence already holds", DefaultValueFactory = _ => 1024 };
            var benchSteps = new Option<int>("--steps") { Description = "--synthetic: timed decode steps per batch size", DefaultValueFactory = _ => 32 };
            var benchStepTokens = new Option<string>("--step-tokens") { Description = "--synthetic: tokens a sequence brings to a decode step, e.g. 1,2,4,8; above 1 also times verification steps (speculative decoding)", DefaultValueFactory = _ => "1" };
            var profile = new Option<bool>("--profile") { Description = "--synthetic: also time one decode step per batch size launch by launch, summed per kernel" };
            var runTp = new Option<int?>("--tp") { Description = "split the model over this many ranks (tensor parallel; instead of the spec's parallel.tensor): GPUs with NCCL, or CPU threads on the CPU backend" };
            var tpStaged = new Option<bool>("--tp-staged") { Description = "GPU ranks exchange through host memory and may share GPUs (no NCCL needed): slow, for checking a split on fewer GPUs" };
            var oneRank = new Option<bool>("--one-rank") { Description = "--synthetic with --tp N: time one GPU's share of the split alone, without the exchange" };
            var bench = new Command("bench", "Time every emitted kernel on this GPU (GB/s and fraction of the copy bandwidth), or with --synthetic the whole model")
                { spec, json, peer, gemmShapes, gemmRows, gemmTiles, attentionPoints, prefillPoints, synthetic, benchPrompts, benchBatches, benchContext, benchSteps, profile, tiles, runTp, tpStaged, oneRank, benchStepTokens };
            bench.SetAction(r => r.GetValue(synthetic)
                ? ModelBenchCommand.Run(r.GetValue(spec)!, new ModelBenchCommand.Options(r.GetValue(benchPrompts)!, r.GetValue(benchBatches)!, r.GetValue(benchContext),
                    r.GetValue(benchSteps), r.GetValue(profile), r.GetValue(tiles)!, r.GetValue(runTp), r.GetValue(tpStaged), r.GetValue(oneRank), r.GetValue(benchStepTokens)!), r.GetValue(json), console, output)
                : r.GetValue(runTp) != null || r.GetValue(tpStaged) || r.GetValue(oneRank)
                ? throw new CliException(ExitCodes.Usage, "--tp, --tp-staged and --one-rank time a split model end to end: use them with --synthetic (a split spec's kernels are timed as each GPU runs them)")
                : BenchCommand.Run(r.GetValue(spec)!, r.GetValue(json), r.GetValue(peer), r.GetValue(gemmShapes), r.GetValue(gemmRows)!,
                    r.GetValue(gemmTiles), r.GetValue(attentionPoints), r.GetValue(prefillPoints), console, output));

            var tuneFamilies = new Option<string?>("--families") { Description = "only these families, e.g. gemm_int4_decode,decode_attention" };
            var tuneBudget = new Option<string>("--budget") { Description = "wall-clock budget, e.g. 10m", DefaultValueFactory = _ => "10m" };
            var tuneShapes = new Option<string>("--shapes") { Description = "decode, prefill or all", DefaultValueFactory = _ => "all" };
            var writeSpec = new Option<bool>("--write-spec") { Description = "write the winners into the spec file's tiles section" };
            var force = new Option<bool>("--force") { Description = "tune families the database already holds for this GPU again" };
            var tuneJson = new Option<bool>("--json") { Description = "print the results as JSON" };
            var tuneTp = new Option<int?>("--tp") { Description = "tune what one GPU of an N-way split runs (its shapes; split runs use these tiles)" };
            var tune = new Command("tune", "Tune the spec's kernel tiles on this GPU (checked candidates only) and record them") { spec, tuneFamilies, tuneBudget, tuneShapes, writeSpec, force, tuneJson, tuneTp };
            tune.SetAction(r => TuneCommand.Run(r.GetValue(spec)!, r.GetValue(tuneFamilies), r.GetValue(tuneBudget)!, r.GetValue(tuneShapes)!,
                r.GetValue(writeSpec), r.GetValue(force), r.GetValue(tuneJson), console, output, r.GetValue(tuneTp)));

            var randomWeights = new Option<bool>("--random-weights") { Description = "random weights from --seed instead of a checkpoint" };
            var runSeed = new Option<int>("--seed") { Description = "seed for the random weights and the default prompt", DefaultValueFactory = _ => 0 };
            var promptTokens = new Option<string?>("--prompt-tokens") { Description = "prompt token ids, e.g. 1,2,3 (default: BOS and 15 ids from the seed)" };
            var steps = new Option<int>("--steps") { Description = "tokens to generate (greedy); generated tokens/s counts the decode steps", DefaultValueFactory = _ => 32 };
            var modelDir = new Option<string?>("--model") { Description = "a safetensors checkpoint (folder, index or file) matching the spec" };
            var promptText = new Option<string?>("--prompt") { Description = "the prompt as text, tokenized with the model's tokenizer.model (needs --model)" };
            var chat = new Option<bool>("--chat") { Description = "format --prompt as a Llama-2-chat user turn: [INST] … [/INST]" };
            var system = new Option<string?>("--system") { Description = "a system prompt for --chat (<<SYS>> … <</SYS>> in the first turn)" };
            var temperature = new Option<float>("--temperature") { Description = "0 is greedy; above 0 samples (with --seed)", DefaultValueFactory = _ => 0f };
            var topK = new Option<int>("--top-k") { Description = "sample among the k most likely tokens (0: all)", DefaultValueFactory = _ => 0 };
            var topP = new Option<float>("--top-p") { Description = "sample among the most likely tokens whose probability reaches p", DefaultValueFactory = _ => 1f };
            var minP = new Option<float>("--min-p") { Description = "drop tokens below min-p × the top probability", DefaultValueFactory = _ => 0f };
            var repetition = new Option<float>("--repetition-penalty") { Description = "divide the logits of tokens already seen (1: off)", DefaultValueFactory = _ => 1f };
            var frequency = new Option<float>("--frequency-penalty") { Description = "subtract this × the times a token was generated", DefaultValueFactory = _ => 0f };
            var presence = new Option<float>("--presence-penalty") { Description = "subtract this once a token was generated", DefaultValueFactory = _ => 0f };
            var backend = new Option<string>("--backend") { Description = "auto (the GPU when there is one that runs the spec, else the CPU), gpu or cpu", DefaultValueFactory = _ => Backends.Auto };
            var streamText = new Option<bool>("--stream") { Description = "print the text as each token is generated" };
            var logitsOut = new Option<string?>("--logits-out") { Description = "write each step's fp32 logits [steps, vocab] to this file and the tokens to FILE.json (parity checks)" };
            var stop = new Option<string[]>("--stop") { Description = "end generation where the text reaches this string (repeat for several); the text ends before it" };
            var noGraphs = new Option<bool>("--no-cuda-graphs") { Description = "GPU: launch each decode kernel instead of replaying a captured CUDA graph" };
            var logprobs = new Option<bool>("--logprobs") { Description = "print each generated token's log-probability under the distribution it was chosen from" };
            var draftTokens = new Option<int>("--draft-tokens") { Description = "speculative decoding: verify up to this many draft tokens a step (0 to 7), looked up in the prompt and text so far; the same tokens, fewer steps where the text repeats", DefaultValueFactory = _ => 0 };
            RunCommand.RunOptions RunOptions(ParseResult r) => new RunCommand.RunOptions(r.GetValue(backend)!, r.GetValue(streamText), r.GetValue(logitsOut), !r.GetValue(noGraphs), r.GetValue(tiles)!, r.GetValue(stop),
                r.GetValue(logprobs), r.GetValue(runTp), r.GetValue(tpStaged), r.GetValue(draftTokens));
            SamplingParams Sampling(ParseResult r, int seed) => new SamplingParams(r.GetValue(temperature), r.GetValue(topK), r.GetValue(topP), r.GetValue(minP),
                r.GetValue(repetition), r.GetValue(frequency), r.GetValue(presence), (ulong)(uint)seed);
            var run = new Command("run", "Generate on the GPU (or the CPU backend without one): prefill, then greedy or sampled decode; prints the tokens, the text and tokens/s")
                { spec, modelDir, randomWeights, runSeed, promptText, promptTokens, steps, chat, system, temperature, topK, topP, minP, repetition, frequency, presence, backend, streamText, logitsOut, noGraphs, tiles, stop, logprobs, runTp, tpStaged, draftTokens };
            run.SetAction(r => RunCommand.Run(r.GetValue(spec)!, r.GetValue(modelDir), r.GetValue(randomWeights), r.GetValue(runSeed), r.GetValue(promptText),
                r.GetValue(promptTokens), r.GetValue(steps), r.GetValue(chat), r.GetValue(system), Sampling(r, r.GetValue(runSeed)), console, RunOptions(r)));

            var checkpointPath = new Argument<string>("path") { Description = $"a Hugging Face model folder, its {Checkpoint.IndexFile}, or a .safetensors file" };
            var againstSpec = new Option<string?>("--spec") { Description = "check the checkpoint against this spec (file or built-in name): every missing, extra, misshapen or mistyped tensor" };
            var inspect = new Command("inspect", "List a checkpoint's tensors, shards, quantization and metadata; with --spec, check it against the spec") { checkpointPath, againstSpec };
            inspect.SetAction(r => InspectCommand.Run(r.GetValue(checkpointPath)!, r.GetValue(againstSpec), console));

            var evalModel = new Option<string>("--model") { Description = "the checkpoint folder (weights and tokenizer.model)", Required = true };
            var evalText = new Option<string>("--text") { Description = "held-out text, one paragraph a line", Required = true };
            var window = new Option<int>("--window") { Description = "tokens per scored window", DefaultValueFactory = _ => 256 };
            var evalPpl = new Command("eval-ppl", "Perplexity of the spec's quantization on held-out text (CPU backend)") { spec, evalModel, evalText, window };
            evalPpl.SetAction(r => EvalPerplexityCommand.Run(r.GetValue(spec)!, r.GetValue(evalModel)!, r.GetValue(evalText)!, r.GetValue(window), console));

            var genModel = new Option<string>("--model") { Description = "the checkpoint folder (weights, config.json, tokenizer.model)", Required = true };
            var genSpec = new Option<string?>("--spec") { Description = "the spec to run it under (default: the built-in spec the checkpoint matches)" };
            var genPrompt = new Option<string>("--prompt") { Description = "the prompt text", Required = true };
            var maxTokens = new Option<int>("--max-tokens") { Description = "most tokens to generate (stops at EOS)", DefaultValueFactory = _ => 64 };
            var genSeed = new Option<int>("--seed") { Description = "seed of the sampler (the same seed gives the same text)", DefaultValueFactory = _ => 0 };
            var generate = new Command("generate", "Generate text from a checkpoint, on the GPU when there is one, else on the CPU backend")
                { genModel, genSpec, genPrompt, maxTokens, chat, system, temperature, topK, topP, minP, repetition, frequency, presence, genSeed, backend, streamText, logitsOut, noGraphs, tiles, stop, logprobs, runTp, tpStaged, draftTokens };
            generate.SetAction(r => RunCommand.Run(r.GetValue(genSpec) ?? GenerateSpec.Find(r.GetValue(genModel)!), r.GetValue(genModel), false, 0,
                r.GetValue(genPrompt), null, r.GetValue(maxTokens), r.GetValue(chat), r.GetValue(system), Sampling(r, r.GetValue(genSeed)), console, RunOptions(r)));

            var loadModel = new Option<string>("--model") { Description = "the checkpoint folder, index or file", Required = true };
            var loadMemory = new Option<string?>("--gpu-memory") { Description = "behave as a GPU of this much memory (the budget is gpu_memory_utilization of it)" };
            var load = new Command("load", "Stream a checkpoint's weights to the GPU within the spec's budget; rate and a read-back check") { spec, loadModel, loadMemory };
            load.SetAction(r => LoadCommand.Run(r.GetValue(spec)!, r.GetValue(loadModel)!, r.GetValue(loadMemory), console));

            var arGpus = new Option<int?>("--gpus") { Description = "GPUs to all-reduce over (default: all of this host's)" };
            var arSizes = new Option<string>("--sizes") { Description = "buffer sizes: a decode step sends batch × hidden × 2 bytes (16KiB at batch 1 of Llama-2-70B)", DefaultValueFactory = _ => "16KiB,1MiB,64MiB" };
            var allReduce = new Command("allreduce", "Check and time NCCL's all-reduce over this host's GPUs, as tensor-parallel steps use it") { arGpus, arSizes };
            allReduce.SetAction(r => AllReduceCommand.Run(r.GetValue(arGpus), r.GetValue(arSizes)!, console));

            var specs = new Command("specs", "List the specs compiled into graphc at build time");
            specs.SetAction(_ =>
            {
                foreach (var e in SpecCatalog.All)
                    console.MarkupLine($"{Markup.Escape(e.Name),-20} specs/{Markup.Escape(e.File)}  (kernels baked for {string.Join(", ", new[] { "sm_80", "sm_86", "sm_89", "sm_90" }.Where(a => e.BakedKernels(a) != null))})");
                return ExitCodes.Ok;
            });

            return new RootCommand("graphc: the GraphCompiler command line. Specs in, memory plans and CUDA kernels out.")
            {
                validate, plan, emit, compile, selftest, bench, tune, run, generate, evalPpl, inspect, load, allReduce, specs,
            };
        }
    }
}
