using GraphCompiler.Common;

namespace GraphCompiler.Graph
{
    public enum Phase { Prefill, Decode }

    /// <summary>One kernel launch of a step: which kernel, the graph ops it covers, the buffers it reads and writes.</summary>
    public sealed record PlannedLaunch(string Kernel, EquatableArray<string> Ops, EquatableArray<string> Reads, EquatableArray<string> Writes)
    {
        /// <summary>The weight-bearing modules a GEMM launch multiplies, in order, joined by '+' ("q_proj+k_proj+v_proj").</summary>
        public string Modules => string.Join("+", System.Linq.Enumerable.Where(Ops, op => Spec.ModuleKinds.TryParse(op, out _)));

        /// <summary>Where a GEMM launch's columns start in its output rows: k and v after q in qkv, up after gate in gate_up
        /// (0 when the modules are fused into one GEMM that writes the whole row).</summary>
        public int OutputColumn(Spec.ModelShape m)
        {
            Spec.ModuleKinds.TryParse(Modules.Split('+')[0], out var first);
            return first switch
            {
                Spec.ModuleKind.KProj => m.QSize,
                Spec.ModuleKind.VProj => m.QSize + m.KvSize,
                Spec.ModuleKind.UpProj => m.IntermediateSize,
                _ => 0,
            };
        }
    }

    /// <summary>Consecutive layers that launch the same kernels in the same order.</summary>
    public sealed record LayerGroup(int FirstLayer, int LastLayer, EquatableArray<PlannedLaunch> Launches)
    {
        public int Count => LastLayer - FirstLayer + 1;
    }

    /// <summary>The launch sequence of one phase: before the layers, per layer group, after the layers.</summary>
    public sealed record PhasePlan(Phase Phase, EquatableArray<PlannedLaunch> Prologue, EquatableArray<LayerGroup> Layers, EquatableArray<PlannedLaunch> Epilogue)
    {
        /// <summary>Every launch of one step in order, with the layer it runs for: −1 before the layers, the layer count after them.</summary>
        public System.Collections.Generic.IEnumerable<(PlannedLaunch Launch, int Layer)> InOrder()
        {
            foreach (var launch in Prologue) yield return (launch, -1);
            foreach (var group in Layers)
                for (int layer = group.FirstLayer; layer <= group.LastLayer; layer++)
                    foreach (var launch in group.Launches) yield return (launch, layer);
            int after = Layers.Count == 0 ? 0 : Layers[Layers.Count - 1].LastLayer + 1;
            foreach (var launch in Epilogue) yield return (launch, after);
        }

        public int LaunchesPerStep
        {
            get
            {
                int n = Prologue.Count + Epilogue.Count;
                foreach (var g in Layers) n += g.Count * g.Launches.Count;
                return n;
            }
        }
    }

    /// <summary>What the fusion pass decided: the distinct kernels, the activation buffers, and each phase's launches.</summary>
    public sealed record KernelPlan(
        EquatableArray<FusedKernel> Kernels,
        EquatableArray<ActivationBuffer> Buffers,
        PhasePlan Prefill,
        PhasePlan Decode)
    {
        public FusedKernel Kernel(string name)
        {
            foreach (var k in Kernels)
                if (k.Name == name) return k;
            throw new System.ArgumentException("no kernel named " + name, nameof(name));
        }

        public ActivationBuffer Buffer(string name)
        {
            foreach (var b in Buffers)
                if (b.Name == name) return b;
            throw new System.ArgumentException("no buffer named " + name, nameof(name));
        }
    }

    /// <summary>
    /// Epilogue and prologue fusions the kernel emitters can do today; the fusion pass folds an op into a neighbour only
    /// where its emitter says it can (so the plan improves as emitters learn, without changing the pass).
    /// </summary>
    public sealed record FusionCapabilities(bool GemmResidualEpilogue, bool GemmSwiGluEpilogue, bool DecodeAttentionRopePrologue)
    {
        public static readonly FusionCapabilities None = new FusionCapabilities(false, false, false);
    }
}
