using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace NfNet.Layers;

/// <summary>
/// The standardized weight of one frozen <see cref="ScaledWSConv2d"/>, shared by every thread that runs the convolution.
/// A reader holds a <see cref="Lease"/> for as long as it convolves with the weight; replacing or dropping the entry
/// (a weight load, a new compute dtype or input scale, training) only releases the cache's own reference, and the
/// tensor is disposed when its last reader leaves. So no thread ever convolves with a freed tensor, whatever another
/// thread loads or drops at the same moment.
/// </summary>
internal sealed class StandardizedWeightCache : IDisposable
{
    private readonly object _gate = new();
    private Entry? _current;
    private long _hits;

    /// <summary>Leases served from an existing entry (diagnostics and tests).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>
    /// A lease on the weight standardized from <paramref name="weight"/> and <paramref name="gain"/> in
    /// <paramref name="computeType"/> with <paramref name="inputScale"/>; <paramref name="compute"/> makes it (a tensor
    /// the cache then owns) when the entry does not hold for these inputs. Computation happens under the cache's lock,
    /// so concurrent first calls compute once.
    /// </summary>
    public Lease Acquire(Parameter weight, Parameter gain, ScalarType computeType, double inputScale, Func<Tensor> compute)
    {
        lock (_gate)
        {
            if (_current is { } c && c.Holds(weight, gain, computeType, inputScale))
                _hits++;
            else
            {
                var fresh = new Entry(compute(), weight, gain, computeType, inputScale);
                var old = _current;
                _current = fresh;
                old?.Release();
            }
            return new Lease(_current);
        }
    }

    /// <summary>Drops the entry; readers holding a lease keep their tensor until they release it.</summary>
    public void Clear()
    {
        Entry? old;
        lock (_gate)
        {
            old = _current;
            _current = null;
        }
        old?.Release();
    }

    /// <inheritdoc />
    public void Dispose() => Clear();

    /// <summary>A reader's hold on a cached weight; disposing it releases the hold once.</summary>
    public sealed class Lease : IDisposable
    {
        private Entry? _entry;

        internal Lease(Entry entry)
        {
            entry.AddReader();
            _entry = entry;
        }

        /// <summary>The standardized weight (owned by the cache: do not dispose).</summary>
        public Tensor Weight => (_entry ?? throw new ObjectDisposedException(nameof(Lease))).Weight;

        /// <inheritdoc />
        public void Dispose() => Interlocked.Exchange(ref _entry, null)?.Release();
    }

    // A weight with everything it was computed from, and a count of its holders: the cache's reference plus one per lease.
    internal sealed class Entry(Tensor weight, Parameter source, Parameter gainSource, ScalarType computeType, double inputScale)
    {
        private int _holders = 1;

        public Tensor Weight { get; } = weight;

        // The same Parameter objects (a device or dtype move makes new ones), compute dtype and input scale.
        public bool Holds(Parameter w, Parameter g, ScalarType type, double scale) =>
            ReferenceEquals(source, w) && ReferenceEquals(gainSource, g) && computeType == type && inputScale == scale;

        public void AddReader() => Interlocked.Increment(ref _holders);

        public void Release()
        {
            if (Interlocked.Decrement(ref _holders) == 0) Weight.Dispose();
        }
    }
}
