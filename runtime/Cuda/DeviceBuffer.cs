using System;
using System.Runtime.InteropServices;

namespace GraphCompiler.Runtime.Cuda
{
    /// <summary>
    /// An address inside device memory someone else owns (a workspace slot, one layer's part of the KV pool, a column
    /// offset into an output buffer): what a kernel argument binds when it is not a whole <see cref="DeviceBuffer"/>.
    /// </summary>
    public readonly record struct DeviceAddress(ulong Value)
    {
        public DeviceAddress Offset(long bytes) => new DeviceAddress(Value + checked((ulong)bytes));
    }

    /// <summary>Device memory from cuMemAlloc, with typed async copies; freed on dispose.</summary>
    public sealed unsafe class DeviceBuffer : IDisposable
    {
        internal DeviceBuffer(ulong pointer, long bytes)
        {
            Pointer = pointer;
            Bytes = bytes;
        }

        public ulong Pointer { get; private set; }
        public long Bytes { get; }
        public DeviceAddress Address => new DeviceAddress(Pointer);

        public static DeviceBuffer Allocate(long bytes)
        {
            if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a device buffer needs at least one byte");
            CudaException.Check(CudaNative.cuMemAlloc_v2(out ulong pointer, (nuint)bytes), $"cuMemAlloc_v2({bytes} bytes)");
            return new DeviceBuffer(pointer, bytes);
        }

        public static DeviceBuffer From<T>(ReadOnlySpan<T> data, CudaStream stream) where T : unmanaged
        {
            var buffer = Allocate(Math.Max(1, data.Length * sizeof(T)));
            buffer.Upload(data, stream);
            return buffer;
        }

        public void Upload<T>(ReadOnlySpan<T> data, CudaStream stream) where T : unmanaged
        {
            long bytes = (long)data.Length * sizeof(T);
            Require(bytes);
            if (bytes == 0) return;
            fixed (T* p = data)
                CudaException.Check(CudaNative.cuMemcpyHtoDAsync_v2(Pointer, p, (nuint)bytes, stream.Handle), "cuMemcpyHtoDAsync_v2");
            stream.Synchronize();   // the span may not outlive this call
        }

        public void Download<T>(Span<T> data, CudaStream stream) where T : unmanaged
        {
            long bytes = (long)data.Length * sizeof(T);
            Require(bytes);
            if (bytes == 0) return;
            fixed (T* p = data)
                CudaException.Check(CudaNative.cuMemcpyDtoHAsync_v2(p, Pointer, (nuint)bytes, stream.Handle), "cuMemcpyDtoHAsync_v2");
            stream.Synchronize();
        }

        public T[] Download<T>(CudaStream stream) where T : unmanaged
        {
            var result = new T[Bytes / sizeof(T)];
            Download<T>(result, stream);
            return result;
        }

        /// <summary>Fills every byte with <paramref name="value"/> (0xFF poisons fp16/bf16/fp32 outputs with NaN).</summary>
        public void Fill(byte value, CudaStream stream) =>
            CudaException.Check(CudaNative.cuMemsetD8Async(Pointer, value, (nuint)Bytes, stream.Handle), "cuMemsetD8Async");

        /// <summary>Fills every 16-bit element with <paramref name="value"/> (an fp16/bf16 constant).</summary>
        public void Fill16(ushort value, CudaStream stream) =>
            CudaException.Check(CudaNative.cuMemsetD16Async(Pointer, value, (nuint)(Bytes / 2), stream.Handle), "cuMemsetD16Async");

        /// <summary>Fills every 32-bit element with <paramref name="value"/> (an fp32 constant's bits, an int).</summary>
        public void Fill32(uint value, CudaStream stream) =>
            CudaException.Check(CudaNative.cuMemsetD32Async(Pointer, value, (nuint)(Bytes / 4), stream.Handle), "cuMemsetD32Async");

        public void CopyFrom(DeviceBuffer source, CudaStream stream)
        {
            Require(source.Bytes);
            CudaException.Check(CudaNative.cuMemcpyDtoDAsync_v2(Pointer, source.Pointer, (nuint)source.Bytes, stream.Handle), "cuMemcpyDtoDAsync_v2");
        }

        /// <summary>An async device-to-device copy between addresses (a KV block's copy-on-write).</summary>
        public static void Copy(DeviceAddress destination, DeviceAddress source, long bytes, CudaStream stream) =>
            CudaException.Check(CudaNative.cuMemcpyDtoDAsync_v2(destination.Value, source.Value, (nuint)bytes, stream.Handle), "cuMemcpyDtoDAsync_v2");

        /// <summary>An async zero fill of <paramref name="bytes"/> bytes from an address (a tensor-parallel rank's residual before its partial sums).</summary>
        public static void Zero(DeviceAddress destination, long bytes, CudaStream stream) =>
            CudaException.Check(CudaNative.cuMemsetD8Async(destination.Value, 0, (nuint)bytes, stream.Handle), "cuMemsetD8Async");

        private void Require(long bytes)
        {
            if (bytes > Bytes) throw new ArgumentException($"{bytes} bytes do not fit a device buffer of {Bytes}");
        }

        public void Dispose()
        {
            if (Pointer == 0) return;
            CudaNative.cuMemFree_v2(Pointer);
            Pointer = 0;
        }
    }

    /// <summary>Page-locked host memory (cuMemAllocHost): the staging buffers of async copies.</summary>
    public sealed unsafe class PinnedHostBuffer : IDisposable
    {
        private IntPtr _pointer;

        public PinnedHostBuffer(long bytes)
        {
            CudaException.Check(CudaNative.cuMemAllocHost_v2(out _pointer, (nuint)bytes), $"cuMemAllocHost_v2({bytes} bytes)");
            Bytes = bytes;
        }

        public long Bytes { get; }
        public IntPtr Pointer => _pointer;

        public Span<byte> AsSpan() => new Span<byte>((void*)_pointer, checked((int)Bytes));

        /// <summary>Starts an async copy of the first <paramref name="bytes"/> to the device at <paramref name="offset"/>; the
        /// buffer must stay untouched until the stream passes it.</summary>
        public void CopyToAsync(DeviceBuffer destination, long offset, long bytes, CudaStream stream)
        {
            if (bytes > Bytes || offset < 0 || offset + bytes > destination.Bytes)
                throw new ArgumentException($"copy of {bytes} bytes to offset {offset}: the staging buffer holds {Bytes}, the destination {destination.Bytes}");
            CudaException.Check(CudaNative.cuMemcpyHtoDAsync_v2(destination.Pointer + (ulong)offset, (void*)_pointer, (nuint)bytes, stream.Handle), "cuMemcpyHtoDAsync_v2");
        }

        /// <summary>Starts an async copy of <paramref name="bytes"/> from <paramref name="hostOffset"/> here to a device address.</summary>
        public void Upload(long hostOffset, DeviceAddress destination, long bytes, CudaStream stream)
        {
            Within(hostOffset, bytes);
            CudaException.Check(CudaNative.cuMemcpyHtoDAsync_v2(destination.Value, (byte*)_pointer + hostOffset, (nuint)bytes, stream.Handle), "cuMemcpyHtoDAsync_v2");
        }

        /// <summary>Starts an async copy of <paramref name="bytes"/> from a device address to <paramref name="hostOffset"/> here.</summary>
        public void Download(DeviceAddress source, long hostOffset, long bytes, CudaStream stream)
        {
            Within(hostOffset, bytes);
            CudaException.Check(CudaNative.cuMemcpyDtoHAsync_v2((byte*)_pointer + hostOffset, source.Value, (nuint)bytes, stream.Handle), "cuMemcpyDtoHAsync_v2");
        }

        /// <summary>The buffer's bytes from <paramref name="offset"/> as <typeparamref name="T"/> (the copies touching them must be done).</summary>
        public Span<T> Slice<T>(long offset, int count) where T : unmanaged
        {
            Within(offset, (long)count * sizeof(T));
            return new Span<T>((byte*)_pointer + offset, count);
        }

        private void Within(long offset, long bytes)
        {
            if (offset < 0 || bytes < 0 || offset + bytes > Bytes)
                throw new ArgumentException($"{bytes} bytes at offset {offset} do not fit a pinned buffer of {Bytes}");
        }

        public void Dispose()
        {
            if (_pointer == IntPtr.Zero) return;
            CudaNative.cuMemFreeHost(_pointer);
            _pointer = IntPtr.Zero;
        }
    }
}
