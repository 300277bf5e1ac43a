using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Hotplug.Pci;

/// <summary>
/// A PCI function address, <c>DDDD:BB:DD.F</c>: a 32-bit domain (as DPDK's; Intel VMD puts its devices in
/// domains from 0x10000 up, <c>10000:01:00.0</c>), an 8-bit bus, a 5-bit device number and a function 0-7, in hex.
/// </summary>
public readonly record struct PciAddress(uint Domain, byte Bus, byte Device, byte Function) : IComparable<PciAddress>
{
    private const string Expected = "expected DDDD:BB:DD.F or BB:DD.F";

    /// <summary>Parses <c>DDDD:BB:DD.F</c> (domain of 1-8 hex digits) or the short <c>BB:DD.F</c> (domain 0).</summary>
    /// <exception cref="FormatException">The text is not a PCI address; the message says why.</exception>
    public static PciAddress Parse(string text) =>
        TryParse(text, out var a, out string? error) ? a : throw new FormatException($"'{text}' is not a PCI address: {error}.");

    /// <summary>Parses <c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c>; false if it is not one.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out PciAddress address) => TryParse(text, out address, out _);

    /// <summary>
    /// Parses <c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c> (surrounding white space ignored). On failure
    /// <paramref name="error"/> says why, without the text itself: <c>device number 0xab exceeds 0x1f</c>,
    /// <c>function 9 exceeds 7</c>, <c>expected DDDD:BB:DD.F or BB:DD.F</c>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out PciAddress address, [NotNullWhen(false)] out string? error)
    {
        address = default;
        text = text.Trim();
        int dot = text.LastIndexOf('.');
        var head = dot < 0 ? default : text[..dot];
        int c1 = head.IndexOf(':');
        int c2 = c1 < 0 ? -1 : head[(c1 + 1)..].IndexOf(':');
        if (dot < 0 || c1 < 0 || (c2 >= 0 && head[(c1 + c2 + 2)..].Contains(':')))
        {
            error = Expected;
            return false;
        }
        uint domain = 0;
        if (c2 >= 0)
        {
            if (!ParseField(head[..c1], "domain", 8, uint.MaxValue, out domain, out error))
                return false;
            head = head[(c1 + 1)..];
            c1 = c2;
        }
        if (!ParseField(head[..c1], "bus", 2, 0xFF, out uint bus, out error)
            || !ParseField(head[(c1 + 1)..], "device number", 2, 0x1F, out uint dev, out error)
            || !ParseFunction(text[(dot + 1)..], out int fn, out error))
            return false;
        address = new PciAddress(domain, (byte)bus, (byte)dev, (byte)fn);
        return true;
    }

    private static bool ParseFunction(ReadOnlySpan<char> s, out int fn, [NotNullWhen(false)] out string? error)
    {
        fn = s.Length == 1 && char.IsAsciiDigit(s[0]) ? s[0] - '0' : -1;
        error = s.Length == 0 ? "function is missing"
            : fn < 0 ? $"function '{Printable(s)}' is not one digit 0-7"
            : fn > 7 ? $"function {fn} exceeds 7"
            : null;
        return error is null;
    }

    private static bool ParseField(ReadOnlySpan<char> s, string what, int maxDigits, uint max, out uint value, [NotNullWhen(false)] out string? error)
    {
        value = 0;
        error = null;
        if (s.Length == 0)
            error = $"{what} is missing";
        else if (s.ContainsAnyExcept("0123456789abcdefABCDEF"))
            error = $"{what} '{Printable(s)}' is not hex";
        else if (!ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v) || v > max)
            error = $"{what} 0x{Printable(s.TrimStart('0')).ToLowerInvariant()} exceeds 0x{max:x}";
        else if (s.Length > maxDigits)
            error = $"{what} '{Printable(s)}' has more than {maxDigits} hex digits";
        else
            value = (uint)v;
        return error is null;
    }

    private static string Printable(ReadOnlySpan<char> s) => SysfsPciScanner.Printable(s.ToString());

    /// <inheritdoc />
    public int CompareTo(PciAddress other) =>
        (Domain, Bus, Device, Function).CompareTo((other.Domain, other.Bus, other.Device, other.Function));

    /// <summary>The canonical form, the kernel's: <c>0000:01:00.0</c>, <c>10000:01:00.0</c> (at least 4 domain digits).</summary>
    public override string ToString() => $"{Domain:x4}:{Bus:x2}:{Device:x2}.{Function}";
}
