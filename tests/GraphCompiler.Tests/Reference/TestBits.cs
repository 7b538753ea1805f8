using System.Linq;
using GraphCompiler.Runtime.Reference;

namespace GraphCompiler.Tests.Reference
{
    /// <summary>Builds activation arrays from values that must be exact in the dtype, so a test's inputs are what it says.</summary>
    internal static class TestBits
    {
        public static ushort[] Exact(ActivationCodec act, params float[] values) => values.Select(v =>
        {
            ushort bits = act.Store(v);
            Assert.True(act.Load(bits) == v, $"{v} is not exact in {act.DType}");
            return bits;
        }).ToArray();

        public static ushort[] F16(params float[] values) => Exact(ActivationCodec.F16, values);

        public static float[] Load(ActivationCodec act, ushort[] bits) => bits.Select(act.Load).ToArray();
    }
}
