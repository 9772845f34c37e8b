namespace NfNet.Platform;

/// <summary>
/// Every switch NfNet.NET reads from its host, in one table (<see cref="All"/>), each an <c>AppContext</c> switch with
/// an environment variable (see <see cref="PlatformSwitch"/>). The per-object settings they set the defaults of
/// (<c>ScaledWSConv2d.WeightCacheEnabled</c> and <c>UseFusedStandardization</c>, <c>AdaptiveGradientClipping.UseFusedCpuStep</c>,
/// <c>TrainerOptions.TuneNativeAllocator</c>) can still be changed on the object.
/// </summary>
public static class PlatformSwitches
{
    /// <summary>Runs every convolution natively, without the CPU workarounds for this libtorch's oneDNN defects
    /// (<c>ConvolutionBackend</c>: narrow-channel verification, strided 1×1, pointwise as matmul).</summary>
    public static PlatformSwitch DisableConvolutionWorkarounds { get; } = new("NfNet.Convolution.DisableWorkarounds", "NFNET_DISABLE_CONV_WORKAROUNDS", false,
        "every convolution runs natively, without the CPU oneDNN workarounds (on a libtorch without the defects, or to measure them)", ReadOnce: true);

    /// <summary>Convolutions keep libtorch's default channels-first (NCHW) activations instead of taking them channels-last:
    /// wide ones on CPUs with Intel AMX (<c>ChannelsLastConvolution</c>), narrow float32 ones on AVX2-only CPUs
    /// (<c>NarrowChannelConvolution</c>); read once per process.</summary>
    public static PlatformSwitch DisableChannelsLast { get; } = new("NfNet.Convolution.DisableChannelsLast", "NFNET_DISABLE_CHANNELS_LAST", false,
        "convolutions keep channels-first activations instead of channels-last (wide ones on AMX CPUs, narrow float32 ones on AVX2-only CPUs)", ReadOnce: true);

    /// <summary>Keeps libtorch's warnings (NNPACK's "unsupported hardware" line and the like), which the library
    /// silences at load (<c>c10</c> log level ERROR); <c>TORCH_CPP_LOG_LEVEL</c> still wins.</summary>
    public static PlatformSwitch ShowNativeWarnings { get; } = new("NfNet.Platform.ShowNativeWarnings", "NFNET_SHOW_NATIVE_WARNINGS", false,
        "keeps libtorch's native warnings (silenced by default)", ReadOnce: true);

    /// <summary>New <c>ScaledWSConv2d</c>s do not cache their standardized weight after <c>OptimizeForInference</c>
    /// (their <c>WeightCacheEnabled</c> starts false).</summary>
    public static PlatformSwitch DisableWeightCache { get; } = new("NfNet.Platform.DisableWeightCache", "NFNET_DISABLE_WEIGHT_CACHE", false,
        "frozen weight-standardized convolutions recompute their weight on every forward");

    /// <summary>New <c>AdaptiveGradientClipping</c> optimizers run the unfused step (their <c>UseFusedCpuStep</c> starts
    /// false).</summary>
    public static PlatformSwitch DisableFusedOptimizerStep { get; } = new("NfNet.Platform.DisableFusedOptimizerStep", "NFNET_DISABLE_FUSED_STEP", false,
        "AGC-SGD steps run as separate clipping, decay and SGD calls instead of the fused CPU step");

    /// <summary>New <c>ScaledWSConv2d</c>s standardize their weights by libtorch operations instead of the fused CPU
    /// kernels (their <c>UseFusedStandardization</c> starts false).</summary>
    public static PlatformSwitch DisableFusedWeightStandardization { get; } = new("NfNet.Platform.DisableFusedWeightStandardization", "NFNET_DISABLE_FUSED_WS", false,
        "weight-standardized convolutions standardize by libtorch operations (batch-norm over the weight) instead of the fused CPU kernels");

    /// <summary>The library's own CPU kernels (fused weight standardization, the fused optimizer step) run on the calling
    /// thread and .NET's thread pool instead of libtorch's OpenMP team.</summary>
    public static PlatformSwitch DisableOpenMpTeam { get; } = new("NfNet.Platform.DisableOpenMpTeam", "NFNET_DISABLE_OPENMP_TEAM", false,
        "the library's own CPU kernels (fused weight standardization, fused optimizer step) run on the calling thread and .NET's thread pool instead of libtorch's OpenMP threads");

    /// <summary>Trainers tune the C runtime's allocator for tensors when created (<c>TrainerOptions.TuneNativeAllocator</c>
    /// defaults to true): a process-wide change the application opts into.</summary>
    public static PlatformSwitch TuneNativeAllocator { get; } = new("NfNet.Platform.TuneNativeAllocator", "NFNET_TUNE_NATIVE_ALLOCATOR", false,
        "trainers tune glibc's allocator for tensor workloads (process-wide: keeps freed memory for reuse)");

    /// <summary>Every switch, in the order of the documentation's table.</summary>
    public static IReadOnlyList<PlatformSwitch> All { get; } = new[]
    {
        DisableConvolutionWorkarounds, DisableChannelsLast, ShowNativeWarnings, DisableWeightCache, DisableFusedWeightStandardization, DisableFusedOptimizerStep, DisableOpenMpTeam, TuneNativeAllocator,
    };
}
