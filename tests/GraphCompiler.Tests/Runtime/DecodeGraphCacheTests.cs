using System;
using System.Collections.Generic;
using GraphCompiler.Runtime.Execution;

namespace GraphCompiler.Tests.Runtime
{
    /// <summary>The decode step's graph cache: a shape seen before replays its graph, and the cache holds at most its
    /// capacity, letting go of (disposing) the least recently replayed.</summary>
    public class DecodeGraphCacheTests
    {
        private sealed class Graph : IDisposable
        {
            public Graph(int shape) => Shape = shape;
            public int Shape { get; }
            public bool Disposed { get; private set; }
            public void Dispose() => Disposed = true;
        }

        [Fact]
        public void A_shape_seen_before_replays_its_graph_without_capturing_again()
        {
            using var cache = new DecodeGraphCache<int, Graph>(4);
            int captures = 0;
            var first = cache.GetOrCapture(7, () => { captures++; return new Graph(7); });
            Assert.Same(first, cache.GetOrCapture(7, () => { captures++; return new Graph(7); }));
            Assert.Equal(1, captures);
        }

        [Fact]
        public void A_full_cache_disposes_the_least_recently_replayed_graph()
        {
            var graphs = new List<Graph>();
            Graph Capture(int shape) { var g = new Graph(shape); graphs.Add(g); return g; }
            var cache = new DecodeGraphCache<int, Graph>(3);
            foreach (int shape in new[] { 1, 2, 3 }) cache.GetOrCapture(shape, () => Capture(shape));
            cache.GetOrCapture(1, () => Capture(1));   // 1 replayed: 2 is now the oldest
            cache.GetOrCapture(4, () => Capture(4));
            Assert.Equal(3, cache.Count);
            Assert.Equal(new[] { false, true, false, false }, graphs.ConvertAll(g => g.Disposed).ToArray());
            cache.GetOrCapture(2, () => Capture(2));   // captured again; 3 goes
            Assert.True(graphs[2].Disposed);
            Assert.Equal(5, graphs.Count);
            cache.Dispose();
            Assert.All(graphs, g => Assert.True(g.Disposed));
        }

        [Fact]
        public void A_cache_of_no_graphs_is_refused() =>
            Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeGraphCache<int, Graph>(0));
    }
}
