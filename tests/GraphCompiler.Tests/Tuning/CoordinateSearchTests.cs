using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Tuning;

namespace GraphCompiler.Tests.Tuning
{
    /// <summary>The tuner's search: finds the optimum of a separable cost in far fewer measurements than the grid, skips invalid and failing candidates.</summary>
    public class CoordinateSearchTests
    {
        private static readonly Axis<(int A, int B)>[] Axes =
        {
            new Axis<(int A, int B)>("a", Enumerable.Range(0, 10).ToArray(), (p, v) => (v, p.B)),
            new Axis<(int A, int B)>("b", Enumerable.Range(0, 10).ToArray(), (p, v) => (p.A, v)),
        };

        private static readonly HashSet<(int A, int B)> Grid = new HashSet<(int A, int B)>(
            from a in Enumerable.Range(0, 10) from b in Enumerable.Range(0, 10) select (a, b));

        [Fact]
        public void It_finds_the_best_of_a_separable_cost_measuring_a_fraction_of_the_grid()
        {
            var r = CoordinateSearch.Run<(int A, int B)>((0, 0), Grid, Axes, p => (p.A - 7) * (p.A - 7) + (p.B - 3) * (p.B - 3) + 1.0, () => false);
            Assert.Equal((7, 3), r.Best);
            Assert.Equal(1.0, r.BestCost);
            Assert.Equal(59.0, r.StartCost);
            Assert.True(r.Measured < 40, $"{r.Measured} measurements");
        }

        [Fact]
        public void Pruned_and_failing_candidates_are_never_chosen_and_the_budget_stops_the_search()
        {
            var valid = new HashSet<(int A, int B)>(Grid.Where(p => p.A != 7));        // the optimum was pruned
            var r = CoordinateSearch.Run<(int A, int B)>((0, 0), valid, Axes, p => p.A == 6 ? null : (p.A - 7) * (p.A - 7) + (p.B - 3) * (p.B - 3) + 1.0, () => false);
            Assert.Equal((8, 3), r.Best);                                               // 7 pruned, 6 failed its check
            int calls = 0;
            var stopped = CoordinateSearch.Run<(int A, int B)>((0, 0), Grid, Axes, p => { calls++; return (double)(p.A + p.B); }, () => calls >= 3);
            Assert.Equal(3, stopped.Measured);
        }
    }
}
