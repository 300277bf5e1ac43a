using System.Globalization;

namespace Hotplug.Pci;

/// <summary>A PCI function address, <c>DDDD:BB:DD.F</c> (domain, bus, device hex; function 0-7).</summary>
public readonly record struct PciAddress(int Domain, byte Bus, byte Device, byte Function) : IComparable<PciAddress>
{
    /// <summary>Parses <c>DDDD:BB:DD.F</c> or the short <c>BB:DD.F</c> (domain 0).</summary>
    /// <exception cref="FormatException">The text is not a PCI address.</exception>
    public static PciAddress Parse(string text) =>
        TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not a PCI address (DDDD:BB:DD.F or BB:DD.F).");

    /// <summary>Parses <c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c>; false if it is not one.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out PciAddress address)
    {
        address = default;
        text = text.Trim();
        int dot = text.LastIndexOf('.');
        if (dot < 0 || dot != text.Length - 2)
            return false;
        char fn = text[dot + 1];
        if (fn < '0' || fn > '7')
            return false;
        var head = text[..dot];
        int domain = 0;
        int c1 = head.IndexOf(':');
        if (c1 < 0)
            return false;
        int c2 = head[(c1 + 1)..].IndexOf(':');
        if (c2 >= 0)
        {
            if (!Hex(head[..c1], 4, out uint d) || d > 0xFFFF)
                return false;
            domain = (int)d;
            head = head[(c1 + 1)..];
            c1 = c2;
        }
        if (!Hex(head[..c1], 2, out uint bus) || !Hex(head[(c1 + 1)..], 2, out uint dev) || dev > 0x1F)
            return false;
        address = new PciAddress(domain, (byte)bus, (byte)dev, (byte)(fn - '0'));
        return true;
    }

    private static bool Hex(ReadOnlySpan<char> s, int maxDigits, out uint value)
    {
        value = 0;
        return s.Length > 0 && s.Length <= maxDigits
            && uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <inheritdoc />
    public int CompareTo(PciAddress other) =>
        (Domain, Bus, Device, Function).CompareTo((other.Domain, other.Bus, other.Device, other.Function));

    /// <summary>The canonical form, <c>0000:01:00.0</c>.</summary>
    public override string ToString() => $"{Domain:x4}:{Bus:x2}:{Device:x2}.{Function}";
}
