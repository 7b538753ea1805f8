using System;
using System.Collections.Generic;
using System.Linq;

namespace GraphCompiler.Runtime.Tuning
{
    /// <summary>
    /// Coordinate descent over a pruned candidate set: from the start point, try every value of one axis with the others
    /// fixed, move to the best, go on to the next axis, and sweep again until a sweep improves nothing or the budget
    /// runs out. Each candidate is measured once (results are memoised); a candidate whose cost is null (it failed its
    /// check) is never chosen. Far fewer measurements than the full grid, which a GPU's tuning budget cannot afford.
    /// </summary>
    public static class CoordinateSearch
    {
        public sealed record Result<T>(T Best, double BestCost, T Start, double StartCost, int Measured) where T : notnull;

        /// <param name="axes">For each axis, the values of a candidate along it, and the candidate with that axis changed.</param>
        public static Result<T> Run<T>(T start, IReadOnlyCollection<T> valid, IReadOnlyList<Axis<T>> axes, Func<T, double?> cost, Func<bool> outOfBudget)
            where T : notnull
        {
            var seen = new Dictionary<T, double?>();
            double? Measure(T candidate)
            {
                if (!seen.TryGetValue(candidate, out var c)) seen[candidate] = c = cost(candidate);
                return c;
            }
            double startCost = Measure(start) ?? throw new InvalidOperationException("the starting tiles failed their check; fix them before tuning");
            var best = start;
            double bestCost = startCost;
            for (bool improved = true; improved && !outOfBudget();)
            {
                improved = false;
                foreach (var axis in axes)
                    foreach (var value in axis.Values)
                    {
                        if (outOfBudget()) break;
                        var candidate = axis.With(best, value);
                        if (!valid.Contains(candidate) || seen.ContainsKey(candidate)) continue;
                        if (Measure(candidate) is double c && c < bestCost)
                        {
                            (best, bestCost, improved) = (candidate, c, true);
                        }
                    }
            }
            return new Result<T>(best, bestCost, start, startCost, seen.Count);
        }
    }

    /// <summary>One tunable axis: its values, and how to set it on a candidate.</summary>
    public sealed record Axis<T>(string Name, IReadOnlyList<int> Values, Func<T, int, T> With);
}
