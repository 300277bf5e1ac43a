namespace Hotplug.Benchmarks;

/// <summary>Distinct PCI addresses for iterations that each need a fresh device.</summary>
public sealed class AddressSequence
{
    private int _next;

    public string Next()
    {
        int k = _next++ % (250 * 256);
        return $"0000:{1 + k / 256:x2}:{k / 8 % 32:x2}.{k % 8}";
    }
}
