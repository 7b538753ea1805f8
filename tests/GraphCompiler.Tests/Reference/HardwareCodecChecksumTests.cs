using System;
using System.Threading;
using System.Threading.Tasks;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>
    /// The encoders against NVIDIA hardware. On an H100 (sm_90, CUDA 13), a kernel converted float bit patterns with
    /// cvt.rn.f16.f32, cvt.rn.bf16.f32, cvt.rn.satfinite.e4m3x2.f32 and cvt.rn.satfinite.e5m2x2.f32 and summed
    /// (code + 1) · (i · 0x9E3779B97F4A7C15 | 1) mod 2^64 over the patterns i; the constants below are those sums. Equal
    /// sums mean equal codes (a single differing code changes the sum: the weight is odd). Every 257th pattern runs
    /// always (16.7 million, including ties, subnormals, infinities and NaNs); all 2^32 run with
    /// GC_EXHAUSTIVE_CODECS=1 (about three minutes on two cores; they passed). The same run found the prelude's software FP8 encoders
    /// (sm_80) equal to the hardware on every pattern but the 2^23 − 1 negative NaNs, which they then encoded as 0xFF
    /// (since fixed to the hardware's 0x7F).
    /// </summary>
    public class HardwareCodecChecksumTests
    {
        internal const string ExhaustiveVariable = "GC_EXHAUSTIVE_CODECS";

        /// <summary>Minutes, not seconds: skipped (saying how to run it) unless GC_EXHAUSTIVE_CODECS=1.</summary>
        public sealed class ExhaustiveTheoryAttribute : TheoryAttribute
        {
            public ExhaustiveTheoryAttribute()
            {
                if (Environment.GetEnvironmentVariable(ExhaustiveVariable) != "1")
                    Skip = $"checks all 2^32 floats in about three minutes: set {ExhaustiveVariable}=1 to run it";
            }
        }

        public static TheoryData<string, ulong, ulong> Codecs() => new TheoryData<string, ulong, ulong>
        {
            { "f16", 0xea55b2229241f1ebUL, 0x150c7d8b513ffc02UL },
            { "bf16", 0xf95dbd2b8b393b95UL, 0x137e16c30fbfff82UL },
            { "e4m3", 0x7fda7482ad234d44UL, 0x355d22357e500000UL },
            { "e5m2", 0x1feb220e47c9d8c2UL, 0xda06c6946a7ffffcUL },
        };

        private static Func<float, uint> Encoder(string codec) => codec switch
        {
            "f16" => f => Fp16.FromFloat(f),
            "bf16" => f => Bf16.FromFloat(f),
            "e4m3" => f => Fp8E4M3.FromFloat(f),
            "e5m2" => f => Fp8E5M2.FromFloat(f),
            _ => throw new ArgumentOutOfRangeException(nameof(codec)),
        };

        private static ulong Term(uint i, uint code) => (code + 1UL) * ((i * 0x9E3779B97F4A7C15UL) | 1UL);

        [Theory]
        [MemberData(nameof(Codecs))]
        public void Encoder_matches_the_H100_cvt_on_every_257th_float(string codec, ulong every257th, ulong all)
        {
            _ = all;
            var encode = Encoder(codec);
            ulong sum = 0;
            for (ulong i = 0; i <= uint.MaxValue; i += 257)
                sum += Term((uint)i, encode(BitConverter.UInt32BitsToSingle((uint)i)));
            Assert.Equal(every257th.ToString("x16"), sum.ToString("x16"));
        }

        [ExhaustiveTheory]
        [MemberData(nameof(Codecs))]
        public void Encoder_matches_the_H100_cvt_on_every_float_when_asked(string codec, ulong every257th, ulong all)
        {
            _ = every257th;
            var encode = Encoder(codec);
            ulong total = 0;
            Parallel.For(0, 1 << 16, () => 0UL, (high, _, sum) =>
            {
                uint first = (uint)high << 16;
                for (uint low = 0; low < 1u << 16; low++)
                    sum += Term(first | low, encode(BitConverter.UInt32BitsToSingle(first | low)));
                return sum;
            }, sum => Interlocked.Add(ref total, sum));
            Assert.Equal(all.ToString("x16"), total.ToString("x16"));
        }
    }
}
