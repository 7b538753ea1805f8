using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Graph;
using GraphCompiler.Spec;

namespace GraphCompiler.Planning
{
    /// <summary>
    /// Lays out the step workspace. A buffer is live from a write until the last read of what was written; two buffers
    /// whose live launches never meet, in either phase, may share bytes. Buffers are placed largest first at the lowest
    /// 256-byte-aligned offset clear of every buffer they meet.
    /// </summary>
    public static class WorkspacePlanner
    {
        public const int Alignment = 256;

        public static IReadOnlyList<WorkspaceSlot> Plan(KernelPlan plan, IReadOnlyDictionary<string, long> bytes)
        {
            var names = plan.Buffers.Select(b => b.Name).ToList();
            var meets = new HashSet<(string, string)>();
            foreach (var phase in new[] { plan.Prefill, plan.Decode })
            {
                var launches = Unroll(phase);
                var live = names.ToDictionary(n => n, n => LiveLaunches(launches, n));
                for (int j = 0; j < launches.Count; j++)
                {
                    var here = names.Where(n => live[n][j]).ToList();
                    foreach (var a in here)
                        foreach (var b in here)
                            if (a != b) meets.Add((a, b));
                }
            }

            var placed = new List<WorkspaceSlot>();
            foreach (var name in names.OrderByDescending(n => bytes[n]).ThenBy(n => n, StringComparer.Ordinal))
            {
                long size = bytes[name];
                var blockers = placed.Where(p => meets.Contains((name, p.Name))).OrderBy(p => p.Offset).ToList();
                long offset = 0;
                foreach (var p in blockers)
                {
                    if (offset + size <= p.Offset) break;
                    offset = Math.Max(offset, Align(p.Offset + p.Bytes));
                }
                placed.Add(new WorkspaceSlot(name, size, offset));
            }
            return names.Select(n => placed.First(p => p.Name == n)).ToList();
        }

        private static long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

        private static List<PlannedLaunch> Unroll(PhasePlan phase) => phase.InOrder().Select(x => x.Launch).ToList();

        /// <summary>live[j]: the buffer is touched by launch j, or holds a value written before j and read after it.</summary>
        private static bool[] LiveLaunches(List<PlannedLaunch> launches, string buffer)
        {
            var live = new bool[launches.Count];
            int lastWrite = -1;
            for (int j = 0; j < launches.Count; j++)
            {
                bool reads = launches[j].Reads.Contains(buffer), writes = launches[j].Writes.Contains(buffer);
                if (reads || writes) live[j] = true;
                if (reads && lastWrite >= 0)
                    for (int x = lastWrite; x < j; x++) live[x] = true;
                if (writes) lastWrite = j;
            }
            // Inputs (token ids, positions) are written by the host before the step: live from its start to their last read.
            int firstWrite = Array.FindIndex(launches.ToArray(), l => l.Writes.Contains(buffer));
            int lastRead = Array.FindLastIndex(launches.ToArray(), l => l.Reads.Contains(buffer));
            if (lastRead >= 0 && (firstWrite < 0 || firstWrite > lastRead))
                for (int x = 0; x <= lastRead; x++) live[x] = true;
            // What the last launch writes (logits) is read by the host after the step.
            for (int j = launches.Count - 1; j >= 0; j--)
            {
                if (!launches[j].Writes.Contains(buffer)) continue;
                if (j == launches.Count - 1) live[j] = true;
                break;
            }
            return live;
        }
    }
}
