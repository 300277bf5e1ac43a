using System.Diagnostics;
using System.Net.NetworkInformation;
using Hotplug.Dma;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;
using static Hotplug.E1000.E1000Registers;

namespace Hotplug.E1000;

/// <summary>
/// One 82540EM port driven from user space, polled (DPDK's em PMD, one queue): reset, MAC address, link, a receive
/// and a transmit ring in DMA memory, and burst receive / transmit of <see cref="Packet"/> handles that allocate
/// nothing. <see cref="ReceiveBurst"/> and <see cref="TransmitBurst"/> may run on two threads (one each).
/// </summary>
/// <remarks>
/// When the NIC goes (<see cref="OnRemoved"/>, called by <see cref="E1000Driver.Remove"/>, or a liveness check that
/// finds the BAR remapped or reading all-ones) the bursts return 0 from then on. Before that, a NIC that has gone
/// without notice still never yields garbage: completions are read from descriptor memory (host DMA memory the NIC
/// no longer writes), never from its registers. Bursts throw only <see cref="ObjectDisposedException"/> after
/// <see cref="Dispose"/> (and <see cref="ArgumentException"/> for a bad packet handed to <see cref="TransmitBurst"/>).
/// </remarks>
public sealed partial class E1000Port : IDisposable
{
    /// <summary>The largest ring this driver sets up.</summary>
    public const int MaxRingSize = 4096;

    /// <summary>The receive buffer size the port programs (RCTL.BSIZE = 2048 bytes).</summary>
    public const int RxBufferSize = E1000Registers.RxBufferSize;

    private readonly E1000RxRing _rx;
    private readonly E1000TxRing _tx;
    private readonly bool _ownsPool;
    private readonly Lock _rxLock = new();
    private readonly Lock _txLock = new();
    private RxCounters _rxStats;
    private TxCounters _txStats;
    private bool _promiscuous;

    private E1000Port(PciDevice device, DmaAllocator dma, PacketPool pool, bool ownsPool, E1000PortOptions o)
    {
        Device = device;
        Dma = dma;
        Bar = device.Bar(0);
        Pool = pool;
        _ownsPool = ownsPool;
        _promiscuous = o.Promiscuous;
        _logger = o.Logger;
        AcceptBroadcast = o.AcceptBroadcast;
        _tx = new E1000TxRing(Bar, dma, o.TxRingSize);
        try
        {
            _rx = new E1000RxRing(Bar, dma, pool, o.RxRingSize);
        }
        catch
        {
            _tx.Dispose();
            throw;
        }
    }

    /// <summary>The PCI device.</summary>
    public PciDevice Device { get; }

    /// <summary>Where the rings live.</summary>
    public DmaAllocator Dma { get; }

    /// <summary>The packet buffers the receive ring is filled from (frames handed out by <see cref="ReceiveBurst"/> come from here).</summary>
    public PacketPool Pool { get; }

    /// <summary>The port's MAC address (RAL0/RAH0, or the EEPROM when RAH0 is not valid).</summary>
    public PhysicalAddress MacAddress { get; private set; } = PhysicalAddress.None;

    /// <summary>The MAC address as <c>52:54:00:12:34:56</c>.</summary>
    public string MacString => string.Join(':', MacAddress.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Receive descriptors.</summary>
    public int RxRingSize => _rx.Size;

    /// <summary>Transmit descriptors.</summary>
    public int TxRingSize => _tx.Size;

    /// <summary>Broadcast frames are accepted (RCTL.BAM).</summary>
    public bool AcceptBroadcast { get; }

    /// <summary>How long bring-up took (reset to rings armed).</summary>
    public TimeSpan AttachTime { get; private set; }

    internal MappedBar Bar { get; }

    /// <summary>Pool buffers the receive ring holds beyond its descriptors (taken ahead for refills).</summary>
    internal int RxSpares { get { lock (_rxLock) return _rx.Spares; } }

    /// <summary>
    /// Resets the 82540EM at <paramref name="device"/> (attached, BAR0 mapped), reads its MAC address, sets link up,
    /// sets up the rings in <paramref name="dma"/> and enables receive and transmit (polled: interrupts masked).
    /// The link may come up later: see <see cref="Link"/> and <see cref="WaitForLink"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A ring size that is not a multiple of 8 in 8..<see cref="MaxRingSize"/>, or a pool size below the receive ring.</exception>
    /// <exception cref="ArgumentException">A given pool's buffers are smaller than <see cref="RxBufferSize"/>, or it has too few free buffers.</exception>
    /// <exception cref="E1000Exception">The NIC is gone or does not come out of reset.</exception>
    public static E1000Port Attach(PciDevice device, DmaAllocator dma, E1000PortOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(dma);
        var o = options ?? new E1000PortOptions();
        CheckRing(o.RxRingSize, nameof(o.RxRingSize));
        CheckRing(o.TxRingSize, nameof(o.TxRingSize));
        if (o.Pool is { } given && given.BufferSize < RxBufferSize)
            throw new ArgumentException($"The pool's buffers are {given.BufferSize} bytes; a receive descriptor fills up to {RxBufferSize}.", nameof(options));
        if (o.Pool is null)
            ArgumentOutOfRangeException.ThrowIfLessThan(o.PoolSize, o.RxRingSize, nameof(o.PoolSize));
        var bar = device.Bar(0);
        if (bar.Read32(Status) == AllOnes)
            throw new E1000Exception($"{device.Name}: STATUS reads all-ones: the NIC is gone.");
        device.Config.EnableBusMastering(); // descriptors and frames move by DMA (Quiesce cleared it; a re-added function starts with it off)
        var pool = o.Pool ?? PacketPool.Create(dma, o.PoolSize, RxBufferSize);
        E1000Port port;
        try
        {
            port = new E1000Port(device, dma, pool, o.Pool is null, o);
        }
        catch
        {
            if (o.Pool is null)
                pool.Dispose(force: true);
            throw;
        }
        try
        {
            port.Initialize(o.ResetTimeout);
        }
        catch
        {
            port.Dispose();
            throw;
        }
        (device.Driver as E1000Driver)?.Register(device, port);
        return port;
    }

    private static void CheckRing(int size, string name)
    {
        if (size < 8 || size > MaxRingSize || size % 8 != 0)
            throw new ArgumentOutOfRangeException(name, size, $"A ring has a multiple of 8 descriptors, 8..{MaxRingSize}.");
    }

    private void Initialize(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        Bar.Write32(Imc, AllOnes); // polled: every interrupt masked
        Bar.Write32(Rctl, 0);
        Bar.Write32(Tctl, 0);
        Bar.Write32(Ctrl, Bar.Read32(Ctrl) | CtrlRst);
        Thread.SpinWait(200); // the manual asks for at least 1 µs before the next access: a spin, not a 1 ms sleep
        WaitClear(Ctrl, CtrlRst, timeout, "reset (CTRL.RST)");
        Bar.Write32(Imc, AllOnes); // the reset unmasks nothing, but be sure
        _ = Bar.Read32(Icr);
        uint ctrl = Bar.Read32(Ctrl);
        Bar.Write32(Ctrl, (ctrl | CtrlSlu | CtrlAsde) & ~(CtrlLrst | CtrlPhyRst | CtrlIlos | CtrlVme));
        MacAddress = ReadMac(timeout);
        for (int i = 0; i < MtaEntries; i++)
            Bar.Write32(Mta + (ulong)(4 * i), 0);
        _rx.Program();
        _tx.Program();
        Bar.Write32(Tipg, TipgDefault);
        Bar.Write32(Tctl, TctlEn | TctlPsp | TctlCt | TctlColdFullDuplex);
        Bar.Write32(Rctl, RctlValue());
        _rx.Arm();
        AttachTime = sw.Elapsed;
        _logger?.LogInformation("{Device}: e1000 port up in {Ms:F1} ms, MAC {Mac}, rings {Rx}/{Tx}, link {Link}",
            Device.Name, AttachTime.TotalMilliseconds, MacString, RxRingSize, TxRingSize, Link);
    }

    private uint RctlValue() =>
        RctlEn | RctlSecrc | RctlBsize2048 | RctlRdmtsHalf | (AcceptBroadcast ? RctlBam : 0) | (_promiscuous ? RctlUpe | RctlMpe : 0);

    private void WaitClear(ulong register, uint bit, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            uint v = Bar.Read32(register);
            if (v == AllOnes)
                throw new E1000Exception($"{Device.Name}: the NIC reads all-ones during {what}: it is gone.");
            if ((v & bit) == 0)
                return;
            if (sw.Elapsed > timeout)
                throw new E1000Exception($"{Device.Name}: {what} did not complete within {timeout.TotalMilliseconds:F0} ms (0x{v:x8}).");
            Thread.Sleep(1);
        }
    }

    private PhysicalAddress ReadMac(TimeSpan timeout)
    {
        var mac = new byte[6];
        uint ral = Bar.Read32(Ral0), rah = Bar.Read32(Rah0);
        if ((rah & RahAv) == 0 || rah == AllOnes)
        {
            for (int w = 0; w < 3; w++)
            {
                ushort word = ReadEeprom(w, timeout);
                mac[2 * w] = (byte)word;
                mac[2 * w + 1] = (byte)(word >> 8);
            }
            ral = (uint)(mac[0] | mac[1] << 8 | mac[2] << 16 | mac[3] << 24);
            rah = (uint)(mac[4] | mac[5] << 8) | RahAv;
            Bar.Write32(Ral0, ral);
            Bar.Write32(Rah0, rah);
        }
        else
        {
            for (int i = 0; i < 4; i++)
                mac[i] = (byte)(ral >> (8 * i));
            mac[4] = (byte)rah;
            mac[5] = (byte)(rah >> 8);
        }
        return new PhysicalAddress(mac);
    }

    private ushort ReadEeprom(int word, TimeSpan timeout)
    {
        Bar.Write32(Eerd, EerdStart | ((uint)word << EerdAddrShift));
        var sw = Stopwatch.StartNew();
        while (true)
        {
            uint v = Bar.Read32(Eerd);
            if (v == AllOnes)
                throw new E1000Exception($"{Device.Name}: EERD reads all-ones: the NIC is gone.");
            if ((v & EerdDone) != 0)
                return (ushort)(v >> EerdDataShift);
            if (sw.Elapsed > timeout)
                throw new E1000Exception($"{Device.Name}: EEPROM word {word} was not read within {timeout.TotalMilliseconds:F0} ms.");
            Thread.SpinWait(100);
        }
    }

    /// <summary>The link now (STATUS); <see cref="E1000LinkStatus.Down"/> once the NIC is removed or reads all-ones.</summary>
    public E1000LinkStatus Link
    {
        get
        {
            if (IsRemoved)
                return E1000LinkStatus.Down;
            uint s;
            try
            {
                s = Bar.Read32(Status);
            }
            catch (ObjectDisposedException)
            {
                return E1000LinkStatus.Down;
            }
            if (s == AllOnes || Bar.IsRemapped)
            {
                MarkRemoved();
                return E1000LinkStatus.Down;
            }
            return (s & StatusLu) == 0 ? E1000LinkStatus.Down : new(true, SpeedMbps(s), (s & StatusFd) != 0);
        }
    }

    /// <summary>Polls <see cref="Link"/> until it is up or <paramref name="timeout"/> passes; true if up.</summary>
    public bool WaitForLink(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (Link.IsUp)
                return true;
            if (IsRemoved || sw.Elapsed >= timeout)
                return false;
            Thread.Sleep(5);
        }
    }

    /// <summary>Accept every unicast and multicast frame (RCTL.UPE / MPE). Setting it on a removed port does nothing.</summary>
    public bool Promiscuous
    {
        get => Volatile.Read(ref _promiscuous);
        set
        {
            lock (_rxLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _promiscuous = value;
                if (!IsRemoved && !_stopped)
                {
                    try
                    {
                        Bar.Write32(Rctl, RctlValue());
                    }
                    catch (ObjectDisposedException)
                    {
                        MarkRemoved(); // detached: nothing to filter any more
                    }
                }
            }
        }
    }

    /// <summary>The port's counters now.</summary>
    public E1000Stats Stats
    {
        get
        {
            RxCounters r;
            TxCounters t;
            lock (_rxLock) r = _rxStats;
            lock (_txLock) t = _txStats;
            return new E1000Stats(r.Packets, r.Bytes, r.Errors, r.NoBuffer, t.Packets, t.Bytes, t.RingFull);
        }
    }
}
