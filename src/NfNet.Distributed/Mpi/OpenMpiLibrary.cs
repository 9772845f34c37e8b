using System.Runtime.InteropServices;

namespace NfNet.Distributed.Mpi;

/// <summary>
/// The one door to Open MPI's C library (<c>libmpi.so.40</c>, Open MPI 4.x; Debian's <c>libopenmpi3</c>): opened with
/// <c>dlopen(RTLD_NOW | RTLD_GLOBAL)</c>, because Open MPI loads its own plugins (<c>mca_*.so</c>) that resolve MPI's
/// symbols from the global namespace — .NET's <c>NativeLibrary.Load</c> opens libraries locally and those plugins then
/// fail. Functions are called through unmanaged function pointers. Open MPI's predefined handles
/// (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, …) are the addresses of its exported globals
/// (<c>ompi_mpi_comm_world</c>, …); <c>MPI_IN_PLACE</c> is <c>(void*)1</c> (mpi.h of Open MPI 4).
/// </summary>
internal sealed unsafe class OpenMpiLibrary
{
    /// <summary>The soname of Open MPI 4's library.</summary>
    public const string LibraryName = "libmpi.so.40";

    public const int Success = 0;
    public const int ThreadSerialized = 2; // MPI_THREAD_SERIALIZED: calls from any thread, one at a time
    public static readonly IntPtr InPlace = 1;

    private const int RtldNow = 0x2;
    private const int RtldGlobal = 0x100;

    // libdl.so.2 exists on every glibc (a forwarding stub since 2.34, where dlopen moved into libc.so.6).
    [DllImport("libdl.so.2", EntryPoint = "dlopen")]
    private static extern IntPtr DlOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    [DllImport("libdl.so.2", EntryPoint = "dlsym")]
    private static extern IntPtr DlSym(IntPtr handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string symbol);

    [DllImport("libdl.so.2", EntryPoint = "dlerror")]
    private static extern IntPtr DlError();

    private readonly IntPtr _handle;

    private OpenMpiLibrary(IntPtr handle)
    {
        _handle = handle;
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Symbol("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Symbol("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Symbol("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Symbol("MPI_Finalize");
        CommRank = (delegate* unmanaged<IntPtr, int*, int>)Symbol("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<IntPtr, int*, int>)Symbol("MPI_Comm_size");
        BarrierFn = (delegate* unmanaged<IntPtr, int>)Symbol("MPI_Barrier");
        Bcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int>)Symbol("MPI_Bcast");
        Allreduce = (delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int>)Symbol("MPI_Allreduce");
        Allgather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int>)Symbol("MPI_Allgather");
        AbortFn = (delegate* unmanaged<IntPtr, int, int>)Symbol("MPI_Abort");
        GetLibraryVersion = (delegate* unmanaged<byte*, int*, int>)Symbol("MPI_Get_library_version");
        CommWorld = Symbol("ompi_mpi_comm_world");
        Float = Symbol("ompi_mpi_float");
        Double = Symbol("ompi_mpi_double");
        Byte = Symbol("ompi_mpi_byte");
        Int64 = Symbol("ompi_mpi_int64_t");
        Sum = Symbol("ompi_mpi_op_sum");
    }

    public delegate* unmanaged<int*, byte***, int, int*, int> InitThread { get; }
    public delegate* unmanaged<int*, int> Initialized { get; }
    public delegate* unmanaged<int*, int> Finalized { get; }
    public delegate* unmanaged<int> Finalize { get; }
    public delegate* unmanaged<IntPtr, int*, int> CommRank { get; }
    public delegate* unmanaged<IntPtr, int*, int> CommSize { get; }
    public delegate* unmanaged<IntPtr, int> BarrierFn { get; }
    public delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int> Bcast { get; }
    public delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int> Allreduce { get; }
    public delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int> Allgather { get; }
    public delegate* unmanaged<IntPtr, int, int> AbortFn { get; }
    public delegate* unmanaged<byte*, int*, int> GetLibraryVersion { get; }
    public IntPtr CommWorld { get; }
    public IntPtr Float { get; }
    public IntPtr Double { get; }
    public IntPtr Byte { get; }
    public IntPtr Int64 { get; }
    public IntPtr Sum { get; }

    /// <summary>Opens the library.</summary>
    /// <exception cref="DistributedSetupException">It is not installed (the message names the packages) or lacks a symbol.</exception>
    public static OpenMpiLibrary Open(string library = LibraryName)
    {
        if (!OperatingSystem.IsLinux())
            throw new DistributedSetupException("NfNet.Distributed's Open MPI backend runs on Linux (libmpi.so.40); on other systems train in one process");
        var handle = DlOpen(library, RtldNow | RtldGlobal);
        if (handle == IntPtr.Zero)
        {
            var error = Marshal.PtrToStringUTF8(DlError());
            throw new DistributedSetupException(
                $"Open MPI's {library} could not be loaded ({error}). Install Open MPI 4: on Debian/Ubuntu " +
                "'apt-get install openmpi-bin libopenmpi3' (./scripts/setup.sh does), then start the ranks with mpirun.");
        }
        return new OpenMpiLibrary(handle);
    }

    /// <summary>Throws when an MPI call did not return MPI_SUCCESS (with the default error handler MPI aborts first).</summary>
    public static void Check(int code, string call)
    {
        if (code != Success) throw new InvalidOperationException($"{call} failed with MPI error code {code}");
    }

    private IntPtr Symbol(string name)
    {
        var address = DlSym(_handle, name);
        return address != IntPtr.Zero
            ? address
            : throw new DistributedSetupException($"{LibraryName} has no symbol '{name}': NfNet.Distributed needs Open MPI 4.x (libopenmpi3), not another MPI");
    }
}
