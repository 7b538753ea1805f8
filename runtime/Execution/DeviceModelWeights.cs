using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Weights;
using GraphCompiler.Runtime.Reference;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>One GEMM's weight arrays on the device, named like the GEMM kernel's parameters (null where its scheme has none).</summary>
    public sealed record GemmDeviceBuffers(
        DeviceBuffer Weight, DeviceBuffer? Scales, DeviceBuffer? Zeros, DeviceBuffer? Perm, DeviceBuffer? WeightScale, DeviceBuffer? InputScale)
    {
        /// <summary>What one launch of the GEMM reads of its weights.</summary>
        public long Bytes => Weight.Bytes + (Scales?.Bytes ?? 0) + (Zeros?.Bytes ?? 0) + (Perm?.Bytes ?? 0) + (WeightScale?.Bytes ?? 0) + (InputScale?.Bytes ?? 0);
    }

    /// <summary>
    /// Every weight the GPU backend's launches read, resident on the device and charged to the budget as weights: the
    /// GEMMs' fragment-ordered arrays (<see cref="GemmDeviceWeightSet"/>, keyed like the launch plan), the RMSNorm weights by
    /// Hugging Face name, and the embedding table (FP8 with its scales).
    /// </summary>
    public sealed class DeviceModelWeights : IDisposable
    {
        private readonly List<DeviceAllocator.TrackedBuffer> _owned = new List<DeviceAllocator.TrackedBuffer>();
        private readonly Dictionary<(int, string), GemmDeviceBuffers> _gemms = new Dictionary<(int, string), GemmDeviceBuffers>();
        private readonly Dictionary<string, DeviceBuffer> _norms = new Dictionary<string, DeviceBuffer>(StringComparer.Ordinal);
        private readonly DeviceAllocator _allocator;

        private DeviceModelWeights(DeviceAllocator allocator) => _allocator = allocator;

        public DeviceBuffer Embedding { get; private set; } = null!;
        public DeviceBuffer? EmbeddingScale { get; private set; }

        /// <summary>Device bytes of every weight array.</summary>
        public long Bytes => _owned.Sum(b => b.Buffer.Bytes);

        public GemmDeviceBuffers Gemm(int layer, string modules) =>
            _gemms.TryGetValue((layer, modules), out var g) ? g : throw new KeyNotFoundException($"no GEMM weights on the device for {modules} of layer {layer}");

        public DeviceBuffer Norm(string name) =>
            _norms.TryGetValue(name, out var n) ? n : throw new KeyNotFoundException($"no norm weight on the device named {name}");

        /// <summary>Repacks the checkpoint's GEMM weights into fragment order (host threads) and copies everything to the device.</summary>
        public static DeviceModelWeights Upload(CompiledModel model, CheckpointTensors checkpoint, DeviceAllocator allocator, CudaStream stream,
            IProgress<LoadProgress>? progress = null)
        {
            CpuWeights.Validate(model, checkpoint);
            var weights = new DeviceModelWeights(allocator);
            try
            {
                var packed = GemmDeviceWeightSet.Build(model, checkpoint);
                int done = 0, total = packed.Keys.Count();
                foreach (var (layer, modules) in packed.Keys)
                {
                    var w = packed[layer, modules];
                    weights._gemms[(layer, modules)] = new GemmDeviceBuffers(weights.Put(w.Weight, stream)!, weights.Put(w.Scales, stream),
                        weights.Put(w.Zeros, stream), weights.Put(w.Perm, stream), weights.Put(w.WeightScale, stream), weights.Put(w.InputScale, stream));
                    progress?.Report(new LoadProgress("weights to the GPU", ++done, total));
                }
                foreach (var t in model.Manifest.Where(t => t.Module == "norm"))
                    weights._norms[t.Name] = weights.Put(checkpoint[t.Name].Data, stream)!;
                string embed = ModuleKind.EmbedTokens.HfPrefix(-1);
                weights.Embedding = weights.Put(checkpoint[embed + ".weight"].Data, stream)!;
                if (model.Spec.Quantization.For(ModuleKind.EmbedTokens, 0).Method == QuantMethod.Fp8E4M3)
                    weights.EmbeddingScale = weights.Put(checkpoint[embed + ".weight_scale"].Data, stream);
                return weights;
            }
            catch
            {
                weights.Dispose();
                throw;
            }
        }

        /// <summary>Bytes of the random patterns synthetic weights are tiled from: far past L2, so no kernel reads a cached copy.</summary>
        private const int PatternBytes = 256 << 20;

        /// <summary>
        /// Random weights of the right sizes and schemes, made on the device without a checkpoint (graphc bench --synthetic:
        /// Llama-2-70B is 42 GB in the seed's recipe): codes tiled from random patterns (INT4 any nibble, FP8 every finite
        /// e4m3 code, fp16/bf16 normal with σ 1/√K), scales constant so each weight has σ about 1/√K, RMSNorm weights 1.
        /// Every launch reads what a real checkpoint would give it; only the numbers are meaningless.
        /// </summary>
        public static DeviceModelWeights Synthetic(CompiledModel model, DeviceAllocator allocator, CudaStream stream, int seed)
        {
            var spec = model.Spec;
            var m = spec.Model;
            var act = ActivationCodec.For(m.DType);
            var random = new Random(seed);
            var weights = new DeviceModelWeights(allocator);
            var patterns = new List<DeviceBuffer>();
            try
            {
                var bytes = new byte[PatternBytes];
                random.NextBytes(bytes);
                var int4 = DeviceBuffer.From<byte>(bytes, stream);
                patterns.Add(int4);
                for (int i = 0; i < bytes.Length; i++)
                    if ((bytes[i] & 0x7F) == 0x7F) bytes[i] &= 0xFE;   // e4m3 NaN codes become 0x7E / 0xFE
                var fp8 = DeviceBuffer.From<byte>(bytes, stream);
                patterns.Add(fp8);
                var normal = new ushort[PatternBytes / 2];
                for (int i = 0; i < normal.Length; i++) normal[i] = act.Store((float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())));
                var dense = DeviceBuffer.From<ushort>(normal, stream);
                patterns.Add(dense);

                DeviceBuffer Tiled(DeviceBuffer pattern, long size)
                {
                    // Each run of the pattern starts at another of 7 offsets, so consecutive runs are not the same bytes.
                    var b = weights.Allocate(size);
                    const long run = PatternBytes - 7 * 64;
                    for (long at = 0; at < size; at += run)
                        DeviceBuffer.Copy(b.Address.Offset(at), pattern.Address.Offset(at / run % 7 * 64), Math.Min(run, size - at), stream);
                    return b;
                }
                DeviceBuffer Constant16(long elements, float value)
                {
                    var b = weights.Allocate(2 * elements);
                    b.Fill16(act.Store(value), stream);
                    return b;
                }
                DeviceBuffer Constant32(long elements, float value)
                {
                    var b = weights.Allocate(4 * elements);
                    b.Fill32(BitConverter.SingleToUInt32Bits(value), stream);
                    return b;
                }

                foreach (var (layer, modules) in CpuWeights.Gemms(model))
                {
                    var kinds = modules.Split('+').Select(RandomCheckpoint.ModuleOf).ToArray();
                    var scheme = spec.Quantization.For(kinds[0], CpuWeights.LayerOf(kinds[0], layer));
                    int k = m.LinearShape(kinds[0]).K, n = kinds.Sum(x => m.LinearShape(x).N), padded = Kernels.Gemm.WeightFragments.PaddedN(n);
                    float sigma = (float)(1 / Math.Sqrt(k));
                    var bits = Kernels.Gemm.GemmEmitter.WeightBits(scheme);
                    var code = Tiled(scheme.Method switch { QuantMethod.Int4 => int4, QuantMethod.Fp8E4M3 => fp8, _ => dense },
                        Kernels.Gemm.WeightFragments.Bytes(k, n, bits));
                    DeviceBuffer? scales = null, zeros = null, perm = null, weightScale = null, inputScale = null;
                    if (scheme.Method == QuantMethod.Int4)
                    {
                        long groups = k / scheme.GroupSizeFor(k);
                        scales = Constant16(groups * padded, sigma / 4.6f);   // (q − 8) uniform on −8..7 has σ ≈ 4.6
                        if (!scheme.Symmetric) zeros = Constant16(groups * padded, -(Kernels.CudaDialect.Int4Magic(m.DType).Value + 8));
                        if (scheme.DescAct) perm = weights.Put(Enumerable.Range(0, k).ToArray(), stream);
                    }
                    else if (scheme.Method == QuantMethod.Fp8E4M3)
                    {
                        weightScale = Constant32(n, sigma / 100f);   // random e4m3 codes have σ ≈ 100
                        if (scheme.ActivationScale == ActivationScaling.Static) inputScale = Constant32(1, 0.05f);
                    }
                    weights._gemms[(layer, modules)] = new GemmDeviceBuffers(code, scales, zeros, perm, weightScale, inputScale);
                }
                foreach (var t in model.Manifest.Where(t => t.Module == "norm"))
                    weights._norms[t.Name] = Constant16(m.HiddenSize, 1f);
                var embed = spec.Quantization.For(ModuleKind.EmbedTokens, 0);
                if (embed.Method == QuantMethod.Fp8E4M3)
                {
                    weights.Embedding = Tiled(fp8, (long)m.VocabSize * m.HiddenSize);
                    weights.EmbeddingScale = Constant32(embed.WeightScale == ScaleGranularity.PerChannel ? m.VocabSize : 1, 0.01f);
                }
                else weights.Embedding = Tiled(dense, 2L * m.VocabSize * m.HiddenSize);
                stream.Synchronize();
                return weights;
            }
            catch
            {
                weights.Dispose();
                throw;
            }
            finally
            {
                foreach (var p in patterns) p.Dispose();
            }
        }

        private DeviceBuffer? Put<T>(T[]? data, CudaStream stream) where T : unmanaged
        {
            if (data is null) return null;
            var buffer = Allocate(System.Runtime.InteropServices.Marshal.SizeOf<T>() * (long)data.Length);
            buffer.Upload<T>(data, stream);
            return buffer;
        }

        private DeviceBuffer Allocate(long bytes)
        {
            var tracked = _allocator.Allocate(MemoryComponent.Weights, Math.Max(1, bytes));
            _owned.Add(tracked);
            return tracked.Buffer;
        }

        public void Dispose()
        {
            foreach (var b in _owned) b.Dispose();
            _owned.Clear();
            _gemms.Clear();
            _norms.Clear();
        }
    }
}
