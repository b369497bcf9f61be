using System.Runtime.InteropServices;
using MeZO.Engine.Backends;
using MeZO.Engine.Backends.Cpu;
using MeZO.Engine.Backends.Cuda;
using MeZO.Engine.Backends.Cuda.Compilation;
using MeZO.Engine.Backends.Cuda.Runtime;
using MeZO.Engine.Tensors;
using NUnit.Framework;
using Tensor = MeZO.Engine.Tensors.Tensor;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// The ranged Upload and Download (byte offset + span) that move tensors of any size in chunks, on the CPU backend and
/// on the CUDA backend over device memory that lives on the host (its offset arithmetic and contract checks, without
/// a GPU). Both must copy exactly the range asked, and refuse the same calls with the same messages.
/// </summary>
[TestFixture("cpu")]
[TestFixture("cuda")]
public sealed class RangedCopyTests(string backendName)
{
    private IBackend _backend = null!;

    [SetUp]
    public void Open() =>
        _backend = backendName == "cpu" ? new CpuBackend() : new CudaBackend(new HostMemoryRuntime(), new CudaBackendOptions(), new MemoryReport());

    [TearDown]
    public void Close() => _backend.Dispose();

    [Test]
    public void UploadWritesExactlyTheRangeAndDownloadReadsItBack()
    {
        using var t = _backend.Allocate(new TensorShape(3, 5), DType.BF16, MemoryCategory.Weights, "w"); // 30 bytes
        byte[] sentinel = Enumerable.Repeat((byte)0xA5, 30).ToArray();
        _backend.Upload<byte>(t, sentinel);

        // Elements 4..8 (bytes 8..18), crossing the row boundary at element 5.
        byte[] piece = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        _backend.Upload(t, 8, piece);

        byte[] expected = (byte[])sentinel.Clone();
        piece.CopyTo(expected, 8);
        var whole = new byte[30];
        _backend.Download<byte>(t, whole);
        Assert.That(whole, Is.EqualTo(expected), "bytes outside [8, 18) must keep the sentinel");

        var back = new byte[10];
        _backend.Download(t, 8, back);
        Assert.That(back, Is.EqualTo(piece));
        var last = new byte[2];
        _backend.Download(t, 28, last);
        Assert.That(last, Is.EqualTo(new byte[] { 0xA5, 0xA5 }), "the last element, read on its own");
    }

    [Test]
    public void EmptyRangesCopyNothingAtEitherEnd()
    {
        using var t = _backend.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Weights, "w");
        _backend.Upload<float>(t, [1, 2, 3, 4]);
        _backend.Upload(t, 0, ReadOnlySpan<byte>.Empty);
        _backend.Upload(t, 16, ReadOnlySpan<byte>.Empty);
        _backend.Download(t, 16, Span<byte>.Empty);
        var values = new float[4];
        _backend.Download<float>(t, values);
        Assert.That(values, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void ARangeOutsideTheTensorIsRefused()
    {
        using var t = _backend.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Weights, "w"); // 16 bytes
        Assert.That(() => _backend.Upload(t, 12, new byte[8]),
            Throws.ArgumentException.With.Message.EqualTo("Upload: bytes [12, 20) are outside 'w' (16 bytes)"));
        Assert.That(() => _backend.Download(t, -4, new byte[4]),
            Throws.ArgumentException.With.Message.EqualTo("Download: bytes [-4, 0) are outside 'w' (16 bytes)"));
        Assert.That(() => _backend.Upload(t, long.MaxValue - 2, new byte[4]),
            Throws.ArgumentException.With.Message.StartsWith("Upload: bytes ["), "an offset near long.MaxValue must not overflow the check");
    }

    [Test]
    public void ARangeThatSplitsAnElementIsRefused()
    {
        using var t = _backend.Allocate(new TensorShape(4), DType.F16, MemoryCategory.Weights, "h"); // 8 bytes
        Assert.That(() => _backend.Upload(t, 1, new byte[2]),
            Throws.ArgumentException.With.Message.EqualTo("Upload: bytes [1, 3) of 'h' split its 2-byte F16 elements; copy whole elements"));
        Assert.That(() => _backend.Download(t, 2, new byte[3]),
            Throws.ArgumentException.With.Message.EqualTo("Download: bytes [2, 5) of 'h' split its 2-byte F16 elements; copy whole elements"));
    }

    [Test]
    public void ATensorOfAnotherBackendIsRefused()
    {
        using var other = new CpuBackend();
        using var t = other.Allocate(new TensorShape(4), DType.F32, MemoryCategory.Weights, "foreign");
        Assert.That(() => _backend.Upload(t, 0, new byte[4]), Throws.ArgumentException.With.Message.Contains("'foreign' belongs to the cpu backend"));
        Assert.That(() => _backend.Download(t, 0, new byte[4]), Throws.ArgumentException.With.Message.Contains("'foreign' belongs to the cpu backend"));
    }

    /// <summary>
    /// "Device" memory in host allocations that the backend cannot read directly: enough of a device for uploads and
    /// downloads. Kernels are not needed by these tests and are refused.
    /// </summary>
    private sealed unsafe class HostMemoryRuntime : IDeviceRuntime
    {
        public string Description => "host memory standing in for a device (copies only)";
        public int ComputeCapability => 90;
        public int MultiprocessorCount => 1;
        public int MaxSharedBytesPerBlock => 48 * 1024;
        public IMatrixProducts? MatrixProducts => null;

        public BackendMemory Allocate(long bytes, MemoryReport report, MemoryCategory category) => new HostMemory(bytes);
        public BackendMemory AllocatePinnedHost(long bytes, MemoryReport report, MemoryCategory category) =>
            throw new NotSupportedException("no streaming in a copy-only runtime");
        public ITransferQueue OpenTransferQueue(int markers) => throw new NotSupportedException("no streaming in a copy-only runtime");
        public void Upload(nint destination, ReadOnlySpan<byte> source) => source.CopyTo(new Span<byte>((void*)destination, source.Length));
        public void Download(nint source, Span<byte> destination) => new ReadOnlySpan<byte>((void*)source, destination.Length).CopyTo(destination);
        public void Copy(nint destination, nint source, long bytes) => Buffer.MemoryCopy((void*)source, (void*)destination, bytes, bytes);
        public void Zero(nint destination, long bytes) => NativeMemory.Clear((void*)destination, (nuint)bytes);
        public DeviceKernel Kernel(KernelFile file, string name) => throw new NotSupportedException("no kernels in a copy-only runtime");
        public void Launch(DeviceKernel kernel, LaunchShape shape, ReadOnlySpan<KernelArgument> arguments) =>
            throw new NotSupportedException("no kernels in a copy-only runtime");
        public void Synchronize()
        {
        }
        public DeviceMemoryInfo MemoryInfo() => new(0, 0);
        public CudaGraph Capture(Action body) => throw new NotSupportedException("no graphs in a copy-only runtime");
        public void Dispose()
        {
        }

        private sealed class HostMemory : BackendMemory
        {
            public HostMemory(long bytes) : base(bytes) => SetHandle((nint)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 256));

            public override bool IsHostAccessible => false;

            protected override bool ReleaseHandle()
            {
                NativeMemory.AlignedFree((void*)handle);
                return true;
            }
        }
    }
}
