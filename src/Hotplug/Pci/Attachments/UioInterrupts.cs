using Hotplug.Interop;
using Hotplug.Interrupts;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// The one INTx vector of a uio device, through a second open of <c>/dev/uioN</c> (O_RDWR | O_NONBLOCK;
/// the removal watch keeps its own fd): readable when the interrupt fired, a read returns the 4-byte cumulative
/// count. Re-arming differs by driver: igb_uio takes <c>write(1)</c> (its irqcontrol); uio_pci_generic has none
/// (write gives ENOSYS) — its handler sets INTx-disable (COMMAND bit 10), so re-arm by clearing that bit in config space.
/// </summary>
internal sealed unsafe class UioInterrupts : InterruptBackend
{
    /// <summary>COMMAND register bit 10: INTx disable.</summary>
    public const ushort CommandIntxDisable = 1 << 10;

    private readonly string _devNode;
    private readonly Func<ushort>? _readCommand;
    private readonly Action<ushort>? _writeCommand;
    private UioCounterSource? _source;

    private UioInterrupts(string devNode, Func<ushort>? readCommand, Action<ushort>? writeCommand)
    {
        _devNode = devNode;
        _readCommand = readCommand;
        _writeCommand = writeCommand;
    }

    /// <summary>For igb_uio: re-arm and disarm by writing 1 / 0 to the node.</summary>
    public static UioInterrupts ForIgbUio(string devNode) => new(devNode, null, null);

    /// <summary>For uio_pci_generic: re-arm by clearing INTx-disable in COMMAND (config offset 4), disarm by setting it.</summary>
    public static UioInterrupts ForUioPciGeneric(string devNode, Func<ushort> readCommand, Action<ushort> writeCommand)
    {
        ArgumentNullException.ThrowIfNull(readCommand);
        ArgumentNullException.ThrowIfNull(writeCommand);
        return new(devNode, readCommand, writeCommand);
    }

    /// <summary>True for igb_uio (re-arm through the node), false for uio_pci_generic (through COMMAND).</summary>
    public bool WritesNode => _writeCommand is null;

    /// <inheritdoc/>
    public override IReadOnlyList<InterruptSource> Enable(InterruptKind kind, int count)
    {
        if (kind != InterruptKind.Uio)
            throw new ArgumentException($"a uio device has only {InterruptKind.Uio} interrupts; asked for {kind}", nameof(kind));
        if (count != 1)
            throw new ArgumentException($"the device has 1 uio vector; asked for {count}", nameof(count));
        var source = new UioCounterSource(Sys.Open(_devNode, O_RDWR | O_NONBLOCK | O_NOCTTY));
        try
        {
            _source = source;
            Arm(true);
            return [source];
        }
        catch
        {
            _source = null;
            source.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public override void Unmask(int index)
    {
        if (index != 0)
            throw new ArgumentOutOfRangeException(nameof(index), index, "a uio device has one vector, 0.");
        Arm(true);
    }

    /// <inheritdoc/>
    public override void Disable()
    {
        if (_source is null)
            return;
        try
        {
            Arm(false);
        }
        catch (ObjectDisposedException)
        {
            // the node is closed already
        }
        finally
        {
            _source = null; // the InterruptSet closes it
        }
    }

    private void Arm(bool on)
    {
        if (_writeCommand is null)
        {
            var source = _source ?? throw new ObjectDisposedException(_devNode);
            using var fd = source.Handle.Lease();
            int value = on ? 1 : 0;
            if ((long)write(fd.Fd, &value, 4) != 4)
                throw Sys.IoError($"write({value}) to {_devNode}");
            return;
        }
        ushort command = _readCommand!();
        ushort next = on ? (ushort)(command & ~CommandIntxDisable) : (ushort)(command | CommandIntxDisable);
        if (next != command)
            _writeCommand(next);
    }
}
