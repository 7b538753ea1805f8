using GraphCompiler.Common;
using GraphCompiler.Planning;
using GraphCompiler.Runtime.Execution;
using GraphCompiler.Runtime.Memory;

namespace GraphCompiler.Tests.Runtime
{
    public class MemoryLedgerTests
    {
        [Fact]
        public void Charges_within_the_budget_are_tracked_per_component()
        {
            var ledger = new MemoryLedger(1000, "test budget");
            ledger.Charge(MemoryComponent.Weights, 600);
            ledger.Charge(MemoryComponent.Workspace, 300);
            Assert.Equal(600, ledger.Used(MemoryComponent.Weights));
            Assert.Equal(100, ledger.Remaining);
            ledger.Release(MemoryComponent.Workspace, 300);
            Assert.Equal(400, ledger.Remaining);
        }

        [Fact]
        public void Exceeding_the_budget_names_the_component_and_the_numbers_and_charges_nothing()
        {
            var ledger = new MemoryLedger(16L << 30, "gpu_memory_budget 16.00 GiB");
            ledger.Charge(MemoryComponent.Weights, 14L << 30);
            var e = Assert.Throws<MemoryBudgetException>(() => ledger.Charge(MemoryComponent.KvCache, 3L << 30));
            Assert.Contains("KvCache needs 3.00 GiB more", e.Message);
            Assert.Contains("only 2.00 GiB of the 16.00 GiB budget", e.Message);
            Assert.Contains("Weights 14.00 GiB", e.Message);
            Assert.Equal(0, ledger.Used(MemoryComponent.KvCache));
        }

        [Fact]
        public void A_kv_cache_asked_for_less_than_one_max_seq_len_sequence_gets_one_and_the_budget_still_caps_it()
        {
            // Blocks of 16 tokens, 512 bytes each (one layer, one KV head of 8 fp16); a 4096-token sequence is 256 blocks.
            var ledger = new MemoryLedger(512_000, "test budget");
            ledger.Charge(MemoryComponent.Weights, 256_000);   // 500 blocks left
            Assert.Equal(256, GpuModel.KvCacheBlocks(1056, TinyCache, 4096, ledger));   // a short benchmark context
            Assert.Equal(300, GpuModel.KvCacheBlocks(4800, TinyCache, 4096, ledger));
            Assert.Equal(500, GpuModel.KvCacheBlocks(64L * 4096, TinyCache, 4096, ledger));   // max_num_seqs × max_seq_len, capped
        }

        private static readonly KvCacheLayout TinyCache = new KvCacheLayout(Layers: 1, KvHeads: 1, HeadDim: 8, BlockSize: 16, DType: DType.F16);

        [Fact]
        public void A_budget_that_leaves_less_than_one_sequence_names_what_it_leaves_and_the_fixes()
        {
            var ledger = new MemoryLedger(512_000, "0.90 × 1.00 MB");
            ledger.Charge(MemoryComponent.Weights, 409_600);   // 200 blocks left, 256 needed
            var e = Assert.Throws<MemoryBudgetException>(() => GpuModel.KvCacheBlocks(1056, TinyCache, 4096, ledger));
            Assert.Contains("leaves room for 3200 KV-cache tokens, fewer than one sequence of limits.max_seq_len (4096)", e.Message);
            Assert.Contains("(0.90 × 1.00 MB)", e.Message);
            Assert.Contains("lower max_seq_len", e.Message);
        }

        [Fact]
        public void Releasing_more_than_was_charged_is_a_bug_not_a_silent_negative()
        {
            var ledger = new MemoryLedger(1000, "test");
            ledger.Charge(MemoryComponent.Staging, 10);
            Assert.Throws<System.InvalidOperationException>(() => ledger.Release(MemoryComponent.Staging, 11));
        }

        [Fact]
        public void The_plans_reservation_is_checked_against_the_budget_and_the_free_memory()
        {
            var plan = TestSpecs.Compile("llama2-70b").Memory;
            var ledger = new MemoryLedger(16L << 30, "16 GiB card");
            var overBudget = Assert.Throws<MemoryBudgetException>(() => ledger.CheckReservation(plan, plan.WeightsBytes, 4096, 80L << 30));
            Assert.Contains("but the budget is 16.00 GiB", overBudget.Message);
            Assert.Contains("workspace", overBudget.Message);
            var big = new MemoryLedger(80L << 30, "80 GiB");
            var notFree = Assert.Throws<MemoryBudgetException>(() => big.CheckReservation(plan, plan.WeightsBytes, 4096, 20L << 30));
            Assert.Contains("has only 20.00 GiB free", notFree.Message);
            big.CheckReservation(plan, plan.WeightsBytes, 4096, 79L << 30);
        }
    }
}
