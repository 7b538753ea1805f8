using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Cpu;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Weights;
using GraphCompiler.Spec;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>One GEMM's weight arrays on the device, named like the GEMM kernel's parameters (null where its scheme has none).</summary>
    public sealed record GemmDeviceBuffers(
        DeviceBuffer Weight, DeviceBuffer? Scales, DeviceBuffer? Zeros, DeviceBuffer? Perm, DeviceBuffer? WeightScale, DeviceBuffer? InputScale);

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
        public static DeviceModelWeights Upload(CompiledModel model, CheckpointTensors checkpoint, DeviceAllocator allocator, CudaStream stream)
        {
            CpuWeights.Validate(model, checkpoint);
            var weights = new DeviceModelWeights(allocator);
            try
            {
                var packed = GemmDeviceWeightSet.Build(model, checkpoint);
                foreach (var (layer, modules) in packed.Keys)
                {
                    var w = packed[layer, modules];
                    weights._gemms[(layer, modules)] = new GemmDeviceBuffers(weights.Put(w.Weight, stream)!, weights.Put(w.Scales, stream),
                        weights.Put(w.Zeros, stream), weights.Put(w.Perm, stream), weights.Put(w.WeightScale, stream), weights.Put(w.InputScale, stream));
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
