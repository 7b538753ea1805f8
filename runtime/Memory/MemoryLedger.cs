using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Planning;

namespace GraphCompiler.Runtime.Memory
{
    /// <summary>What device memory is for; every allocation is tagged with one.</summary>
    public enum MemoryComponent { Weights, KvCache, Workspace, Staging, Test }

    /// <summary>Asking for more than the budget allows: names the component and the numbers.</summary>
    public sealed class MemoryBudgetException : Exception
    {
        public MemoryBudgetException(string message) : base(message) { }
    }

    /// <summary>
    /// The budget bookkeeping behind every device allocation: usage per component against the spec's budget
    /// (gpu_memory_budget, or utilization × the GPU's memory), so an H100 can behave as a 16 GB card. Exceeding it is an
    /// error naming the component and the numbers, never a silent over-allocation. Pure logic: no GPU needed.
    /// </summary>
    public sealed class MemoryLedger
    {
        private readonly Dictionary<MemoryComponent, long> _used = new Dictionary<MemoryComponent, long>();
        private readonly object _gate = new object();

        public MemoryLedger(long budgetBytes, string budgetSource)
        {
            if (budgetBytes <= 0) throw new ArgumentOutOfRangeException(nameof(budgetBytes), budgetBytes, "the budget must be positive");
            BudgetBytes = budgetBytes;
            BudgetSource = budgetSource;
        }

        public long BudgetBytes { get; }
        public string BudgetSource { get; }

        public long Used(MemoryComponent component)
        {
            lock (_gate) return _used.TryGetValue(component, out long b) ? b : 0;
        }

        public long UsedTotal
        {
            get { lock (_gate) return _used.Values.Sum(); }
        }

        public long Remaining => BudgetBytes - UsedTotal;

        public void Charge(MemoryComponent component, long bytes)
        {
            if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
            lock (_gate)
            {
                long used = _used.Values.Sum();
                if (used + bytes > BudgetBytes)
                    throw new MemoryBudgetException(
                        $"{component} needs {ByteSize.Format(bytes)} more, but only {ByteSize.Format(BudgetBytes - used)} of the {ByteSize.Format(BudgetBytes)} budget "
                        + $"({BudgetSource}) is left; in use: {Describe()}. {Advice(component)}");
                _used[component] = (_used.TryGetValue(component, out long b) ? b : 0) + bytes;
            }
        }

        public void Release(MemoryComponent component, long bytes)
        {
            lock (_gate)
            {
                long b = _used.TryGetValue(component, out long current) ? current : 0;
                if (bytes > b) throw new InvalidOperationException($"releasing {bytes} bytes of {component}, which holds only {b}");
                _used[component] = b - bytes;
            }
        }

        /// <summary>
        /// Checks, before anything is allocated, that the plan's resident part (weights that stay on the GPU, the workspace,
        /// and KV for <paramref name="kvTokens"/> tokens) fits both the budget and what the device has free right now.
        /// </summary>
        public void CheckReservation(MemoryPlan plan, long residentWeightBytes, long kvTokens, long freeDeviceBytes)
        {
            long kv = kvTokens * plan.KvBytesPerToken + plan.KvScaleBytes;
            long total = residentWeightBytes + plan.WorkspaceBytes + kv;
            string parts = $"weights {ByteSize.Format(residentWeightBytes)} + workspace {ByteSize.Format(plan.WorkspaceBytes)} + KV cache {ByteSize.Format(kv)} ({kvTokens} tokens)";
            if (total > BudgetBytes)
                throw new MemoryBudgetException($"the plan needs {ByteSize.Format(total)} ({parts}) but the budget is {ByteSize.Format(BudgetBytes)} ({BudgetSource}); run graphc plan to see what fits");
            if (total > freeDeviceBytes)
                throw new MemoryBudgetException($"the plan needs {ByteSize.Format(total)} ({parts}) but the GPU has only {ByteSize.Format(freeDeviceBytes)} free now; other processes hold the rest");
        }

        private static string Advice(MemoryComponent component) => component switch
        {
            MemoryComponent.Weights => "Raise the budget, or quantize more of the model (graphc plan shows what fits and what would stream).",
            MemoryComponent.KvCache => "Raise the budget, or lower limits.max_seq_len or max_num_seqs, or use an FP8 KV cache.",
            _ => "Raise the budget, or lower limits.max_num_batched_tokens, max_num_seqs or max_seq_len.",
        };

        private string Describe()
        {
            var parts = _used.Where(p => p.Value > 0).Select(p => $"{p.Key} {ByteSize.Format(p.Value)}").ToList();
            return parts.Count == 0 ? "nothing" : string.Join(", ", parts);
        }
    }
}
