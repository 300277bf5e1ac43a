using Hotplug.Pci;

namespace Hotplug.Tests.Pci;

public class PciAddressTests
{
    [Theory]
    [InlineData("0000:01:00.0", 0, 0x01, 0x00, 0, "0000:01:00.0")]
    [InlineData("abcd:ff:1f.7", 0xabcd, 0xff, 0x1f, 7, "abcd:ff:1f.7")]
    [InlineData("ABCD:FF:1F.7", 0xabcd, 0xff, 0x1f, 7, "abcd:ff:1f.7")]
    [InlineData("0001:3b:00.1", 1, 0x3b, 0x00, 1, "0001:3b:00.1")]
    public void ParsesTheFullForm(string text, int domain, int bus, int device, int function, string canonical)
    {
        var a = PciAddress.Parse(text);
        Assert.Equal(new PciAddress(domain, (byte)bus, (byte)device, (byte)function), a);
        Assert.Equal(canonical, a.ToString());
    }

    [Theory]
    [InlineData("01:00.0", 0x01, 0x00, 0)]
    [InlineData("3b:1f.3", 0x3b, 0x1f, 3)]
    public void ParsesTheShortFormAsDomainZero(string text, int bus, int device, int function)
    {
        Assert.True(PciAddress.TryParse(text, out var a));
        Assert.Equal(new PciAddress(0, (byte)bus, (byte)device, (byte)function), a);
        Assert.Equal($"0000:{text}", a.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("0000:01:00")]      // no function
    [InlineData("0000:01:00.")]     // empty function
    [InlineData("0000:01:00.8")]    // function is 0-7
    [InlineData("0000:01:00.a")]    // function is decimal
    [InlineData("0000:01:20.0")]    // device is 0-0x1f
    [InlineData("0000:01:00.00")]   // function has one digit
    [InlineData("10000:01:00.0")]   // domain has at most 4 hex digits
    [InlineData("0000:001:00.0")]   // bus has at most 2
    [InlineData("0000:01:000.0")]   // device has at most 2
    [InlineData("0000::00.0")]
    [InlineData(":01:00.0")]
    [InlineData("0000:zz:00.0")]
    [InlineData("0000:-1:00.0")]
    [InlineData("1:2:3:4.0")]
    [InlineData("01.00.0")]
    [InlineData("pci0000:00")]
    [InlineData("0000:01:00.0/")]
    public void RejectsWhatIsNotAnAddress(string text)
    {
        Assert.False(PciAddress.TryParse(text, out _));
        var e = Assert.Throws<FormatException>(() => PciAddress.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
    }

    [Fact]
    public void OrdersByDomainBusDeviceFunction()
    {
        var sorted = new[] { "0001:00:00.0", "0000:02:00.0", "0000:01:01.0", "0000:01:00.7", "0000:01:00.1" }
            .Select(PciAddress.Parse).Order().Select(a => a.ToString()).ToArray();
        Assert.Equal(["0000:01:00.1", "0000:01:00.7", "0000:01:01.0", "0000:02:00.0", "0001:00:00.0"], sorted);
    }
}
