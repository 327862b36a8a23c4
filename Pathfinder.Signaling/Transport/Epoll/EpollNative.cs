using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pathfinder.Signaling.Transport.Epoll;

/// <summary>The few Linux calls the epoll transport makes (glibc and musl export the same names).</summary>
internal static unsafe partial class EpollNative
{
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const uint EpollIn = 0x001;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 1u << 31;
    public const int EpollCloexec = 0x80000;
    public const int EfdNonblock = 0x800;
    public const int EfdCloexec = 0x80000;
    public const int MsgNoSignal = 0x4000;
    public const int EAgain = 11;
    public const int EIntr = 4;
    public const int EBadF = 9;

    /// <summary>Max iovecs per sendmsg (a frame batch rarely spans more than a few pool segments).</summary>
    public const int MaxIov = 32;

    private const string Libc = "libc";

    /// <summary>
    /// struct epoll_event: packed (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere (arm64). Only these two
    /// layouts are supported; <see cref="IsSupported"/> is false on other architectures.
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int EventDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>
    /// Resolves "libc" to glibc's run-time name (libc.so.6) first: the plain name would otherwise be probed as
    /// libc.so, which is a linker script where development packages are installed. Elsewhere (musl) the runtime's
    /// own probing applies. Called once, before the first call.
    /// </summary>
    public static void UseRuntimeLibc() =>
        NativeLibrary.SetDllImportResolver(typeof(EpollNative).Assembly, static (name, assembly, path) =>
            name == Libc && NativeLibrary.TryLoad("libc.so.6", out var handle) ? handle : IntPtr.Zero);

    public static uint EventFlags(byte* events, int index) => Unsafe.ReadUnaligned<uint>(events + (index * EventSize));

    public static ulong EventData(byte* events, int index) => Unsafe.ReadUnaligned<ulong>(events + (index * EventSize) + EventDataOffset);

    public static int Control(int epfd, int op, int fd, uint flags, ulong data)
    {
        var ev = stackalloc byte[16];
        Unsafe.WriteUnaligned(ev, flags);
        Unsafe.WriteUnaligned(ev + EventDataOffset, data);
        return epoll_ctl(epfd, op, fd, ev);
    }

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint sendmsg(int fd, MessageHeader* message, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nuint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int close(int fd);

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }
}
