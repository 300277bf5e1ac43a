using Hotplug.Pci;

namespace Hotplug.Tests.Pci;

public class PciAddressTests
{
    [Theory]
    [InlineData("0000:01:00.0", 0, 0x01, 0x00, 0, "0000:01:00.0")]
    [InlineData("abcd:ff:1f.7", 0xabcd, 0xff, 0x1f, 7, "abcd:ff:1f.7")]
    [InlineData("ABCD:FF:1F.7", 0xabcd, 0xff, 0x1f, 7, "abcd:ff:1f.7")]
    [InlineData("0001:3b:00.1", 1, 0x3b, 0x00, 1, "0001:3b:00.1")]
    [InlineData("1:3b:00.1", 1, 0x3b, 0x00, 1, "0001:3b:00.1")]
    [InlineData("10000:01:00.0", 0x10000, 0x01, 0x00, 0, "10000:01:00.0")]     // Intel VMD
    [InlineData("1000a:e1:00.3", 0x1000a, 0xe1, 0x00, 3, "1000a:e1:00.3")]
    [InlineData("0010000:01:00.0", 0x10000, 0x01, 0x00, 0, "10000:01:00.0")]
    [InlineData("ffffffff:ff:1f.7", 0xffffffff, 0xff, 0x1f, 7, "ffffffff:ff:1f.7")] // 32 bits, like DPDK
    public void Parses_the_full_form(string text, uint domain, int bus, int device, int function, string canonical)
    {
        var a = PciAddress.Parse(text);
        Assert.Equal(new PciAddress(domain, (byte)bus, (byte)device, (byte)function), a);
        Assert.Equal(canonical, a.ToString());
        Assert.True(PciAddress.TryParse(text, out var b, out string? error));
        Assert.Equal(a, b);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("01:00.0", 0x01, 0x00, 0)]
    [InlineData("3b:1f.3", 0x3b, 0x1f, 3)]
    public void Parses_the_short_form_as_domain_zero(string text, int bus, int device, int function)
    {
        Assert.True(PciAddress.TryParse(text, out var a));
        Assert.Equal(new PciAddress(0, (byte)bus, (byte)device, (byte)function), a);
        Assert.Equal($"0000:{text}", a.ToString());
    }

    [Theory]
    [InlineData("", "expected DDDD:BB:DD.F")]
    [InlineData("  ", "expected DDDD:BB:DD.F")]
    [InlineData(".", "expected DDDD:BB:DD.F")]
    [InlineData("..", "expected DDDD:BB:DD.F")]
    [InlineData("0000:01:00", "expected DDDD:BB:DD.F")]                // no function
    [InlineData("0000:01:00.", "function is missing")]
    [InlineData("0000:01:00.8", "function 8 exceeds 7")]
    [InlineData("0000:01:00.9", "function 9 exceeds 7")]
    [InlineData("0000:01:00.a", "function 'a' is not one digit 0-7")]  // function is decimal
    [InlineData("0000:01:00.00", "function '00' is not one digit 0-7")]
    [InlineData("0000:01:00.0/", "function '0/' is not one digit 0-7")]
    [InlineData("0000:01:20.0", "device number 0x20 exceeds 0x1f")]
    [InlineData("0000:01:ab.0", "device number 0xab exceeds 0x1f")]
    [InlineData("0000:01:000.0", "device number '000' has more than 2 hex digits")]
    [InlineData("0000:01:.0", "device number is missing")]
    [InlineData("0000:1ff:00.0", "bus 0x1ff exceeds 0xff")]
    [InlineData("0000:001:00.0", "bus '001' has more than 2 hex digits")]
    [InlineData("0000::00.0", "bus is missing")]
    [InlineData("0000:zz:00.0", "bus 'zz' is not hex")]
    [InlineData("0000:-1:00.0", "bus '-1' is not hex")]
    [InlineData("0000:+1:00.0", "bus '+1' is not hex")]
    [InlineData(":01:00.0", "domain is missing")]
    [InlineData("100000000:01:00.0", "domain 0x100000000 exceeds 0xffffffff")]
    [InlineData("fffffffffffffffff:01:00.0", "domain 0xfffffffffffffffff exceeds 0xffffffff")]
    [InlineData("000010000:01:00.0", "domain '000010000' has more than 8 hex digits")]
    [InlineData("0x10:01:00.0", "domain '0x10' is not hex")]
    [InlineData("1:2:3:4.0", "expected DDDD:BB:DD.F")]
    [InlineData("01.00.0", "expected DDDD:BB:DD.F")]
    [InlineData("pci0000:00", "expected DDDD:BB:DD.F")]
    [InlineData("pci10000:00", "expected DDDD:BB:DD.F")]
    public void Rejects_what_is_not_an_address_and_says_why(string text, string why)
    {
        Assert.False(PciAddress.TryParse(text, out _));
        Assert.False(PciAddress.TryParse(text, out var a, out string? error));
        Assert.Equal(default, a);
        Assert.NotNull(error);
        Assert.Contains(why, error);
        var e = Assert.Throws<FormatException>(() => PciAddress.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void A_reason_never_echoes_control_characters()
    {
        Assert.False(PciAddress.TryParse("0000:\u001b[31m:00.0", out _, out string? error));
        Assert.DoesNotContain('\u001b', error);
    }

    [Fact]
    public void Orders_by_domain_bus_device_function()
    {
        var sorted = new[] { "10000:00:00.0", "ffffffff:00:00.0", "0001:00:00.0", "0000:02:00.0", "0000:01:01.0", "0000:01:00.7", "0000:01:00.1" }
            .Select(PciAddress.Parse).Order().Select(a => a.ToString()).ToArray();
        Assert.Equal(["0000:01:00.1", "0000:01:00.7", "0000:01:01.0", "0000:02:00.0", "0001:00:00.0", "10000:00:00.0", "ffffffff:00:00.0"], sorted);
    }
}
