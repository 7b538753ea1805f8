using System;
using System.Collections.Generic;

namespace GraphCompiler.Runtime.Execution
{
    /// <summary>
    /// The decode step's captured CUDA graphs by step shape, the <see cref="Capacity"/> most recently replayed kept. Plain
    /// decoding sees at most max_num_seqs shapes (one a batch size), but verification steps key on (sequences, tokens, step
    /// tokens) as well, which a long serving run with speculation can spread over thousands, each an instantiated graph
    /// of every layer's launches; the least recently used goes when a new one comes.
    /// </summary>
    internal sealed class DecodeGraphCache<TKey, TGraph> : IDisposable where TKey : notnull where TGraph : IDisposable
    {
        private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TGraph Graph)>> _byKey = new Dictionary<TKey, LinkedListNode<(TKey, TGraph)>>();
        private readonly LinkedList<(TKey Key, TGraph Graph)> _recent = new LinkedList<(TKey, TGraph)>();   // most recent first

        public DecodeGraphCache(int capacity)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "keep at least one graph");
            Capacity = capacity;
        }

        public int Capacity { get; }

        public int Count => _byKey.Count;

        /// <summary>The graph of <paramref name="key"/>, captured by <paramref name="capture"/> the first time (or again once
        /// evicted); the least recently used graph is disposed when the cache is full.</summary>
        public TGraph GetOrCapture(TKey key, Func<TGraph> capture)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
                return node.Value.Graph;
            }
            var graph = capture();
            if (_byKey.Count == Capacity)
            {
                var oldest = _recent.Last!;
                _recent.RemoveLast();
                _byKey.Remove(oldest.Value.Key);
                oldest.Value.Graph.Dispose();   // a replay still in flight completes first (cuGraphExecDestroy)
            }
            _byKey[key] = _recent.AddFirst((key, graph));
            return graph;
        }

        public void Dispose()
        {
            foreach (var (_, graph) in _recent) graph.Dispose();
            _recent.Clear();
            _byKey.Clear();
        }
    }
}
