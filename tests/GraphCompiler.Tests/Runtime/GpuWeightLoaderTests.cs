using System;
using System.IO;
using System.Linq;
using GraphCompiler.Compilation;
using GraphCompiler.Runtime.Checkpoints;
using GraphCompiler.Runtime.Cuda;
using GraphCompiler.Runtime.Memory;
using GraphCompiler.Runtime.Weights;

namespace GraphCompiler.Tests.Runtime
{
    public class GpuWeightLoaderTests
    {
        [Fact]
        public void Progress_gives_the_rate_and_the_time_left()
        {
            var p = new LoadProgress(4_000_000_000, 10_000_000_000, TimeSpan.FromSeconds(2));
            Assert.Equal(2e9, p.BytesPerSecond);
            Assert.Equal(3.0, p.Remaining.TotalSeconds, 6);
            Assert.Equal(TimeSpan.Zero, new LoadProgress(0, 10, TimeSpan.Zero).Remaining);
        }

        [GpuFact]
        public void The_small_model_streams_to_the_gpu_through_small_staging_buffers_and_reads_back_identical()
        {
            var (_, model) = ModelCompiler.Compile(TestSpecs.PathOf("small-llama"), TestSpecs.Text("small-llama"));
            using var checkpoint = Checkpoint.Open(Path.Combine(AppContext.BaseDirectory, "fixtures", "small-llama"));
            using var device = CudaDevice.Open();
            using var stream = new CudaStream();
            var allocator = new DeviceAllocator(new MemoryLedger(1L << 30, "test"));
            // 64 KiB staging: every large tensor takes several chunks through both buffers.
            using var weights = GpuWeightLoader.Load(checkpoint, model!, allocator, stream, stagingBytes: 64 << 10);
            Assert.Equal(model!.Manifest.Sum(w => w.Bytes), allocator.Ledger.Used(MemoryComponent.Weights));
            foreach (var w in model.Manifest)
            {
                checkpoint.TryGet(w.Name, out var tensor);
                Assert.True(tensor.Span.SequenceEqual(weights.Tensors[w.Name].Buffer.Download<byte>(stream)), w.Name);
            }
        }
    }
}
