using System;

namespace GraphCompiler.Runtime.Kv
{
    /// <summary>
    /// The paged KV pool has too few free blocks for a request: the scheduler's cue to wait for sequences to finish or to
    /// preempt one. The message says how many blocks were asked for and are free, and what to change to get more.
    /// </summary>
    public sealed class KvCacheExhaustedException : InvalidOperationException
    {
        public KvCacheExhaustedException(int needed, int free, int total, long blockBytes)
            : base($"the KV cache has {free} free block(s) of {total} and {needed} are needed; wait for a sequence to finish or preempt one, "
                + $"or give the cache more memory (raise limits.gpu_memory_utilization or gpu_memory_budget: each block is {blockBytes:N0} bytes; "
                + "an FP8 kv_cache.dtype halves it)")
        {
            Needed = needed;
            Free = free;
        }

        public int Needed { get; }
        public int Free { get; }
    }
}
