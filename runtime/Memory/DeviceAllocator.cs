using System;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.Memory
{
    /// <summary>Device allocations charged to a <see cref="MemoryLedger"/>: allocate past the budget and it refuses, by name.</summary>
    public sealed class DeviceAllocator
    {
        public DeviceAllocator(MemoryLedger ledger) => Ledger = ledger;

        /// <summary>Allocations held to the spec's budget on a GPU of <paramref name="deviceMemory"/> bytes (limits.gpu_memory_utilization of it).</summary>
        public static DeviceAllocator WithinBudget(Spec.LimitsSpec limits, long deviceMemory)
        {
            var budget = Planning.MemoryPlanner.Budget(limits, deviceMemory)!.Value;
            return new DeviceAllocator(new MemoryLedger(budget.Bytes, budget.Source));
        }

        public MemoryLedger Ledger { get; }

        public TrackedBuffer Allocate(MemoryComponent component, long bytes)
        {
            Ledger.Charge(component, bytes);
            try
            {
                return new TrackedBuffer(this, component, DeviceBuffer.Allocate(bytes));
            }
            catch
            {
                Ledger.Release(component, bytes);
                throw;
            }
        }

        /// <summary>A device buffer that returns its bytes to the ledger when disposed.</summary>
        public sealed class TrackedBuffer : IDisposable
        {
            private readonly DeviceAllocator _owner;
            private bool _disposed;

            internal TrackedBuffer(DeviceAllocator owner, MemoryComponent component, DeviceBuffer buffer)
            {
                _owner = owner;
                Component = component;
                Buffer = buffer;
            }

            public MemoryComponent Component { get; }
            public DeviceBuffer Buffer { get; }

            public void Dispose()
            {
                if (_disposed) return;
                _disposed = true;
                Buffer.Dispose();
                _owner.Ledger.Release(Component, Buffer.Bytes);
            }
        }
    }
}
