using System;
using GraphCompiler.Runtime.Cuda;

namespace GraphCompiler.Runtime.SelfTest
{
    /// <summary>Moves the typed host arrays of a test case to and from device buffers.</summary>
    internal static class HostArrays
    {
        public static DeviceBuffer Upload(Array array, CudaStream stream) => array switch
        {
            ushort[] a => DeviceBuffer.From<ushort>(a, stream),
            byte[] a => DeviceBuffer.From<byte>(a, stream),
            float[] a => DeviceBuffer.From<float>(a, stream),
            int[] a => DeviceBuffer.From<int>(a, stream),
            uint[] a => DeviceBuffer.From<uint>(a, stream),
            _ => throw new ArgumentException("no upload for " + array.GetType().Name),
        };

        public static Array Download(DeviceBuffer buffer, Array like, CudaStream stream)
        {
            switch (like)
            {
                case ushort[] a: { var r = new ushort[a.Length]; buffer.Download<ushort>(r, stream); return r; }
                case byte[] a: { var r = new byte[a.Length]; buffer.Download<byte>(r, stream); return r; }
                case float[] a: { var r = new float[a.Length]; buffer.Download<float>(r, stream); return r; }
                case int[] a: { var r = new int[a.Length]; buffer.Download<int>(r, stream); return r; }
                case uint[] a: { var r = new uint[a.Length]; buffer.Download<uint>(r, stream); return r; }
                default: throw new ArgumentException("no download for " + like.GetType().Name);
            }
        }
    }
}
