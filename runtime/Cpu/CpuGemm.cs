using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace GraphCompiler.Runtime.Cpu
{
    /// <summary>
    /// y[M, N] = x[M, K] · W[N, K]ᵀ in float32: float32 products, fused multiply-add into float32 accumulators. Every output
    /// element is summed in the same order whatever M is and however the work is split (one Vector&lt;float&gt; accumulator
    /// per element over K in order, then its lanes, then the scalar tail), so a row's result does not depend on the other
    /// rows of the step: a prompt's last token gets the same value in a prefill as in a decode step.
    /// </summary>
    internal static class CpuGemm
    {
        /// <summary>Tasks per core: a few, so that a core slowed by something else does not hold the whole GEMM up.</summary>
        private const int TasksPerCore = 4;

        /// <summary>Rows of x per pass over a task's weight rows, so the x block stays in L2 while the W rows stay in L1.</summary>
        private const int RowsPerBlock = 64;

        /// <summary>Below this many multiply-adds a GEMM runs on the calling thread: the fork costs more than it saves.</summary>
        private const long SerialWork = 1 << 16;

        public static void Multiply(float[] x, int m, int k, float[] w, int n, float[] y)
        {
            // Tasks take contiguous runs of whole 4-column groups (the microkernel's width).
            int groups = (n + 3) / 4;
            int tasks = (long)m * n * k < SerialWork ? 1 : Math.Min(groups, TasksPerCore * Environment.ProcessorCount);
            if (tasks == 1) Columns(x, m, k, w, n, y, 0, n);
            else
                Parallel.For(0, tasks, t => Columns(x, m, k, w, n, y, (int)((long)groups * t / tasks) * 4, Math.Min(n, (int)((long)groups * (t + 1) / tasks) * 4)));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Columns(float[] x, int m, int k, float[] w, int n, float[] y, int n0, int n1)
        {
            var xs = x.AsSpan(0, m * k);
            var ws = w.AsSpan(0, n * k);
            for (int m0 = 0; m0 < m; m0 += RowsPerBlock)
            {
                int m1 = Math.Min(m, m0 + RowsPerBlock);
                int col = n0;
                for (; col + 4 <= n1; col += 4)
                {
                    var w0 = ws.Slice(col * k, k);
                    var w1 = ws.Slice((col + 1) * k, k);
                    var w2 = ws.Slice((col + 2) * k, k);
                    var w3 = ws.Slice((col + 3) * k, k);
                    int row = m0;
                    for (; row + 2 <= m1; row += 2)
                    {
                        Dot2x4(xs.Slice(row * k, k), xs.Slice((row + 1) * k, k), w0, w1, w2, w3, out var r0, out var r1);
                        Store(y, row * n + col, r0);
                        Store(y, (row + 1) * n + col, r1);
                    }
                    if (row < m1)
                    {
                        Dot1x4(xs.Slice(row * k, k), w0, w1, w2, w3, out var r0);
                        Store(y, row * n + col, r0);
                    }
                }
                for (; col < n1; col++)
                    for (int row = m0; row < m1; row++)
                        y[row * n + col] = Dot(xs.Slice(row * k, k), ws.Slice(col * k, k));
            }
        }

        private static void Store(float[] y, int at, Vector4 r)
        {
            y[at] = r.X;
            y[at + 1] = r.Y;
            y[at + 2] = r.Z;
            y[at + 3] = r.W;
        }

        /// <summary>Σ a[i]·b[i] in the order every kernel here uses.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var acc = Vector<float>.Zero;
            for (int i = 0; i < va.Length; i++) acc = Vector.FusedMultiplyAdd(va[i], vb[i], acc);
            float sum = Vector.Sum(acc);
            for (int i = va.Length * Vector<float>.Count; i < a.Length; i++) sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
            return sum;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Dot1x4(ReadOnlySpan<float> x, ReadOnlySpan<float> w0, ReadOnlySpan<float> w1, ReadOnlySpan<float> w2,
            ReadOnlySpan<float> w3, out Vector4 r)
        {
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var v0 = MemoryMarshal.Cast<float, Vector<float>>(w0);
            var v1 = MemoryMarshal.Cast<float, Vector<float>>(w1);
            var v2 = MemoryMarshal.Cast<float, Vector<float>>(w2);
            var v3 = MemoryMarshal.Cast<float, Vector<float>>(w3);
            Vector<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < vx.Length; i++)
            {
                var xi = vx[i];
                a0 = Vector.FusedMultiplyAdd(xi, v0[i], a0);
                a1 = Vector.FusedMultiplyAdd(xi, v1[i], a1);
                a2 = Vector.FusedMultiplyAdd(xi, v2[i], a2);
                a3 = Vector.FusedMultiplyAdd(xi, v3[i], a3);
            }
            r = new Vector4(Vector.Sum(a0), Vector.Sum(a1), Vector.Sum(a2), Vector.Sum(a3));
            for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++)
                r = new Vector4(MathF.FusedMultiplyAdd(x[i], w0[i], r.X), MathF.FusedMultiplyAdd(x[i], w1[i], r.Y),
                    MathF.FusedMultiplyAdd(x[i], w2[i], r.Z), MathF.FusedMultiplyAdd(x[i], w3[i], r.W));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Dot2x4(ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> w0, ReadOnlySpan<float> w1,
            ReadOnlySpan<float> w2, ReadOnlySpan<float> w3, out Vector4 r0, out Vector4 r1)
        {
            var vx0 = MemoryMarshal.Cast<float, Vector<float>>(x0);
            var vx1 = MemoryMarshal.Cast<float, Vector<float>>(x1);
            var v0 = MemoryMarshal.Cast<float, Vector<float>>(w0);
            var v1 = MemoryMarshal.Cast<float, Vector<float>>(w1);
            var v2 = MemoryMarshal.Cast<float, Vector<float>>(w2);
            var v3 = MemoryMarshal.Cast<float, Vector<float>>(w3);
            Vector<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector<float> a10 = default, a11 = default, a12 = default, a13 = default;
            for (int i = 0; i < vx0.Length; i++)
            {
                Vector<float> p = vx0[i], q = vx1[i], b0 = v0[i], b1 = v1[i], b2 = v2[i], b3 = v3[i];
                a00 = Vector.FusedMultiplyAdd(p, b0, a00);
                a01 = Vector.FusedMultiplyAdd(p, b1, a01);
                a02 = Vector.FusedMultiplyAdd(p, b2, a02);
                a03 = Vector.FusedMultiplyAdd(p, b3, a03);
                a10 = Vector.FusedMultiplyAdd(q, b0, a10);
                a11 = Vector.FusedMultiplyAdd(q, b1, a11);
                a12 = Vector.FusedMultiplyAdd(q, b2, a12);
                a13 = Vector.FusedMultiplyAdd(q, b3, a13);
            }
            r0 = new Vector4(Vector.Sum(a00), Vector.Sum(a01), Vector.Sum(a02), Vector.Sum(a03));
            r1 = new Vector4(Vector.Sum(a10), Vector.Sum(a11), Vector.Sum(a12), Vector.Sum(a13));
            for (int i = vx0.Length * Vector<float>.Count; i < x0.Length; i++)
            {
                r0 = new Vector4(MathF.FusedMultiplyAdd(x0[i], w0[i], r0.X), MathF.FusedMultiplyAdd(x0[i], w1[i], r0.Y),
                    MathF.FusedMultiplyAdd(x0[i], w2[i], r0.Z), MathF.FusedMultiplyAdd(x0[i], w3[i], r0.W));
                r1 = new Vector4(MathF.FusedMultiplyAdd(x1[i], w0[i], r1.X), MathF.FusedMultiplyAdd(x1[i], w1[i], r1.Y),
                    MathF.FusedMultiplyAdd(x1[i], w2[i], r1.Z), MathF.FusedMultiplyAdd(x1[i], w3[i], r1.W));
            }
        }
    }
}
