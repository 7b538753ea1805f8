using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>‖gpu − ref‖ / ‖ref‖ over an output, with NaN counted separately: a NaN never passes.</summary>
    public readonly record struct Comparison(double RelativeError, double MaxAbsoluteError, long NaNs, long Elements, double Tolerance)
    {
        public bool Passed => NaNs == 0 && RelativeError <= Tolerance;
    }

    public static class OutputComparison
    {
        /// <summary>Tolerance on the relative L2 error per output kind; the kernels round like the reference, so these are a few ulps.</summary>
        /// <param name="dtype">The activation dtype; for <see cref="OutputKind.KvCache"/> the cache's.</param>
        public static double Tolerance(OutputKind kind, DType dtype) => kind switch
        {
            OutputKind.Activation => dtype == DType.BF16 ? 1e-2 : 2e-3,
            OutputKind.KvCache => dtype is DType.F8E4M3 or DType.F8E5M2 ? 3e-2 : Tolerance(OutputKind.Activation, dtype),
            OutputKind.Fp8PerRow => 3e-2,
            OutputKind.Float => 1e-5,
            OutputKind.FloatSum => 1e-4,
            _ => 0,
        };

        public static Comparison Compare(KernelOutput output, DType activation, Func<string, Array> gpu, Func<string, Array> reference)
        {
            double tolerance = Tolerance(output.Kind, output.Element ?? activation);
            var codec = ActivationCodec.For(activation);
            switch (output.Kind)
            {
                case OutputKind.Activation:
                    {
                        var g = (ushort[])gpu(output.Parameter);
                        var r = (ushort[])reference(output.Parameter);
                        return Measure(output, g.Length, i => codec.Load(g[i]), i => codec.Load(r[i]), tolerance);
                    }
                case OutputKind.Fp8PerRow:
                    {
                        var g = (byte[])gpu(output.Parameter);
                        var r = (byte[])reference(output.Parameter);
                        var gs = (float[])gpu(output.ScaleParameter!);
                        var rs = (float[])reference(output.ScaleParameter!);
                        int width = output.RowWidth;
                        return Measure(output, g.Length, i => Fp8E4M3.ToFloat(g[i]) * gs[i / width], i => Fp8E4M3.ToFloat(r[i]) * rs[i / width], tolerance);
                    }
                case OutputKind.Float:
                case OutputKind.FloatSum:
                    {
                        var g = (float[])gpu(output.Parameter);
                        var r = (float[])reference(output.Parameter);
                        return Measure(output, g.Length, i => g[i], i => r[i], tolerance);
                    }
                case OutputKind.KvCache:
                    {
                        var g = gpu(output.Parameter);
                        var dtype = output.Element!.Value;
                        return Measure(output, g.Length, CacheElements(g, dtype), CacheElements(reference(output.Parameter), dtype), tolerance);
                    }
                default:
                    {
                        var g = gpu(output.Parameter);
                        return Measure(output, g.Length, Integers(g), Integers(reference(output.Parameter)), 0);
                    }
            }
        }

        private static Func<long, double> Integers(Array a) => a switch
        {
            int[] x => i => x[i],
            uint[] x => i => x[i],
            ushort[] x => i => x[i],
            byte[] x => i => x[i],
            _ => throw new ArgumentException("no exact comparison for " + a.GetType().Name),
        };

        /// <summary>A KV pool's elements as values: fp16/bf16 bits, or FP8 codes (unscaled: both sides share the scale).</summary>
        private static Func<long, double> CacheElements(Array a, DType dtype)
        {
            if (a is ushort[] bits)
            {
                var codec = ActivationCodec.For(dtype);
                return i => codec.Load(bits[i]);
            }
            var codes = (byte[])a;
            return dtype == DType.F8E4M3 ? i => Fp8E4M3.ToFloat(codes[i]) : i => Fp8E5M2.ToFloat(codes[i]);
        }

        private static Comparison Measure(KernelOutput output, long n, Func<long, double> gpu, Func<long, double> reference, double tolerance)
        {
            double diff = 0, norm = 0, maxAbs = 0;
            long nans = 0, compared = 0;
            var indices = output.CheckedRows is { } rows
                ? rows.SelectMany(r => Enumerable.Range(0, output.RowWidth).Select(j => (long)r * output.RowWidth + j))
                : LongRange(n);
            foreach (long i in indices)
            {
                compared++;
                double g = gpu(i), r = reference(i);
                if (double.IsNaN(g) != double.IsNaN(r) || double.IsInfinity(g) != double.IsInfinity(r)) { nans++; continue; }
                if (double.IsNaN(g) || double.IsInfinity(g)) continue;
                double d = g - r;
                diff += d * d;
                norm += r * r;
                maxAbs = Math.Max(maxAbs, Math.Abs(d));
            }
            double relative = norm > 0 ? Math.Sqrt(diff / norm) : Math.Sqrt(diff);
            return new Comparison(relative, maxAbs, nans, compared, tolerance);
        }

        private static IEnumerable<long> LongRange(long n)
        {
            for (long i = 0; i < n; i++) yield return i;
        }
    }
}
