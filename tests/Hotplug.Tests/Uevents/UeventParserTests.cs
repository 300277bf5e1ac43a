using System.Text;
using Hotplug.Uevents;

namespace Hotplug.Tests.Uevents;

public class UeventParserTests
{
    private static Uevent ParseOk(string message)
    {
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(message), out var uevent, out var error), error);
        Assert.Null(error);
        return uevent;
    }

    [Fact]
    public void Parses_a_kernel_uio_remove()
    {
        var e = ParseOk(KernelUeventSamples.UioRemove);
        Assert.Equal(UeventAction.Remove, e.Action);
        Assert.Equal("remove", e.RawAction);
        Assert.Equal("/devices/pci0000:00/0000:00:10.0/0000:01:00.0/uio/uio0", e.DevPath);
        Assert.Equal("uio", e.Subsystem);
        Assert.Equal(631UL, e.SeqNum);
        Assert.Equal("246", e["MAJOR"]);
        Assert.Equal("0", e["MINOR"]);
        Assert.Equal("uio0", e["DEVNAME"]);
        Assert.Equal(7, e.Properties.Count);
    }

    [Fact]
    public void Parses_a_kernel_pci_unbind()
    {
        var e = ParseOk(KernelUeventSamples.PciUnbind);
        Assert.Equal(UeventAction.Unbind, e.Action);
        Assert.Equal("/devices/pci0000:00/0000:00:10.0/0000:01:00.0", e.DevPath);
        Assert.Equal("pci", e.Subsystem);
        Assert.Equal(632UL, e.SeqNum);
        Assert.Equal("0000:01:00.0", e["PCI_SLOT_NAME"]);
        Assert.Equal("1234:11E8", e["PCI_ID"]);
        Assert.Equal("1AF4:1100", e["PCI_SUBSYS_ID"]);
        Assert.Equal("FF00", e["PCI_CLASS"]);
        Assert.Null(e["MODALIAS"]);
    }

    [Fact]
    public void Parses_a_kernel_pci_remove()
    {
        var e = ParseOk(KernelUeventSamples.PciRemove);
        Assert.Equal(UeventAction.Remove, e.Action);
        Assert.Equal("pci", e.Subsystem);
        Assert.Equal(634UL, e.SeqNum);
        Assert.True(e.TryGet("MODALIAS", out var modalias));
        Assert.Equal("pci:v00001234d000011E8sv00001AF4sd00001100bc00scFFi00", modalias);
        Assert.False(e.TryGet("DRIVER", out _));
    }

    [Fact]
    public void Parses_a_kernel_vfio_dev_remove()
    {
        var e = ParseOk(KernelUeventSamples.VfioDevRemove);
        Assert.Equal(UeventAction.Remove, e.Action);
        Assert.Equal("vfio-dev", e.Subsystem);
        Assert.Equal("/devices/pci0000:00/0000:00:10.0/0000:01:00.0/vfio-dev/vfio0", e.DevPath);
    }

    [Fact]
    public void Parses_a_kernel_vfio_group_remove()
    {
        var e = ParseOk(KernelUeventSamples.VfioGroupRemove);
        Assert.Equal(UeventAction.Remove, e.Action);
        Assert.Equal("vfio", e.Subsystem);
        Assert.Equal("/devices/virtual/vfio/5", e.DevPath);
        Assert.Equal("vfio/5", e["DEVNAME"]);
    }

    [Fact]
    public void Parses_a_kernel_net_lo_change()
    {
        var e = ParseOk(KernelUeventSamples.NetLoChange);
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.Equal("/devices/virtual/net/lo", e.DevPath);
        Assert.Equal("net", e.Subsystem);
        Assert.Equal(828UL, e.SeqNum);
        Assert.Equal("lo", e["INTERFACE"]);
        Assert.Equal("1", e["IFINDEX"]);
        Assert.Equal("0", e["SYNTH_UUID"]);
        Assert.Equal("change@/devices/virtual/net/lo (net, seq 828)", e.ToString());
    }

    [Theory]
    [InlineData("add", UeventAction.Add)]
    [InlineData("move", UeventAction.Move)]
    [InlineData("online", UeventAction.Online)]
    [InlineData("offline", UeventAction.Offline)]
    [InlineData("bind", UeventAction.Bind)]
    [InlineData("frobnicate", UeventAction.Unknown)]
    [InlineData("ADD", UeventAction.Unknown)]
    public void Actions_map_exactly(string raw, UeventAction expected)
    {
        var e = ParseOk($"{raw}@/devices/x\0ACTION={raw}\0DEVPATH=/devices/x\0SUBSYSTEM=s\0");
        Assert.Equal(expected, e.Action);
        Assert.Equal(raw, e.RawAction);
        Assert.Null(e.SeqNum);
    }

    [Fact]
    public void Empty_value_is_accepted()
    {
        var e = ParseOk("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0DEVTYPE=\0A=b=c\0");
        Assert.Equal("", e["DEVTYPE"]);
        Assert.Equal("b=c", e["A"]); // the first '=' separates key and value
    }

    [Fact]
    public void Message_of_exactly_the_limit_is_accepted()
    {
        string head = "add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0PAD=";
        string msg = head + new string('p', UeventParser.MaxMessageBytes - head.Length - 1) + "\0";
        Assert.Equal(UeventParser.MaxMessageBytes, msg.Length);
        ParseOk(msg);
    }

    private const string Good = "add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0";

    public static TheoryData<string, byte[], string> Broken()
    {
        static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
        var tooBig = B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0PAD=" + new string('p', 8200) + "\0");
        var badUtf8Value = Concat(B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0K="), [0xFF], B("\0"));
        var badUtf8Header = Concat(B("add@/dev"), [0xC0, 0xAF], B("x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0")); // overlong '/'
        var udev = Concat(B("libudev\0"), [0xFE, 0xED, 0xCA, 0xFE], B(Good));
        return new TheoryData<string, byte[], string>
        {
            { "empty", [], "empty message" },
            { "oversized", tooBig, "oversized message" },
            { "libudev rebroadcast", udev, "udev message" },
            { "no NUL at all", B("add@/devices/x"), "header without NUL" },
            { "no @ in header", B("add /devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0"), "no '@' in header" },
            { "header only, no @", B("\0"), "no '@' in header" },
            { "truncated mid-field", B("add@/devices/x\0ACTION=add\0DEVPATH=/devi"), "truncated" },
            { "truncated mid-key", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQ"), "truncated" },
            { "empty action in header", B("@/devices/x\0ACTION=\0DEVPATH=/devices/x\0SUBSYSTEM=s\0"), "empty action in header" },
            { "empty devpath in header", B("add@\0ACTION=add\0DEVPATH=\0SUBSYSTEM=s\0"), "empty devpath in header" },
            { "missing ACTION", B("add@/devices/x\0DEVPATH=/devices/x\0SUBSYSTEM=s\0"), "missing ACTION key" },
            { "missing DEVPATH", B("add@/devices/x\0ACTION=add\0SUBSYSTEM=s\0"), "missing DEVPATH key" },
            { "missing SUBSYSTEM", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"), "missing SUBSYSTEM key" },
            { "header only", B("add@/devices/x\0"), "missing ACTION key" },
            { "empty SUBSYSTEM", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=\0"), "empty SUBSYSTEM" },
            { "ACTION disagrees", B("add@/devices/x\0ACTION=remove\0DEVPATH=/devices/x\0SUBSYSTEM=s\0"), "ACTION key 'remove' disagrees with header 'add'" },
            { "DEVPATH disagrees", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/y\0SUBSYSTEM=s\0"), "DEVPATH key '/devices/y' disagrees with header '/devices/x'" },
            { "bad UTF-8 in a value", badUtf8Value, "invalid UTF-8 in field #4" },
            { "bad UTF-8 in header", badUtf8Header, "invalid UTF-8 in header" },
            { "field without =", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0JUNK\0"), "field #4 without '='" },
            { "empty key", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0=v\0"), "empty key in field #4" },
            { "empty field", B("add@/devices/x\0ACTION=add\0\0DEVPATH=/devices/x\0SUBSYSTEM=s\0"), "empty field #2" },
            { "trailing double NUL", B(Good + "\0"), "empty field #5" },
            { "duplicate key", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0K=1\0K=2\0"), "duplicate key 'K'" },
            { "duplicate DEVPATH", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0DEVPATH=/devices/y\0SUBSYSTEM=s\0"), "duplicate key 'DEVPATH'" },
            { "SEQNUM not a number", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=-1\0"), "invalid SEQNUM '-1'" },
            { "SEQNUM overflows", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=18446744073709551616\0"), "invalid SEQNUM" },
            { "control chars are not echoed", B("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0K\n=1\0K\n=2\0"), "duplicate key 'K?'" },
        };
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    [Theory]
    [MemberData(nameof(Broken))]
    public void Broken_messages_are_rejected_with_a_reason(string name, byte[] message, string expectedReason)
    {
        bool ok = UeventParser.TryParse(message, out var uevent, out var error);
        Assert.False(ok, name);
        Assert.Null(uevent);
        Assert.NotNull(error);
        Assert.StartsWith(expectedReason, error);
    }

    [Fact]
    public void Valid_message_missing_its_last_nul_inside_a_larger_buffer_is_truncated()
    {
        // The bytes after the span would complete the message: the parser must not look at them.
        byte[] whole = KernelUeventSamples.Bytes(KernelUeventSamples.PciRemove);
        var span = whole.AsSpan(0, whole.Length - 1);
        Assert.False(UeventParser.TryParse(span, out _, out var error));
        Assert.StartsWith("truncated", error);
    }

    [Fact]
    public void Every_prefix_of_every_kernel_sample_is_handled()
    {
        foreach (var sample in KernelUeventSamples.All)
        {
            byte[] bytes = KernelUeventSamples.Bytes(sample);
            for (int len = 0; len < bytes.Length; len++)
            {
                bool ok = UeventParser.TryParse(bytes.AsSpan(0, len), out var uevent, out var error);
                // A prefix can only succeed if it ends on a field boundary after all required keys.
                if (ok)
                {
                    Assert.NotNull(uevent);
                    Assert.Equal(0, bytes[len - 1]);
                }
                else
                {
                    Assert.False(string.IsNullOrEmpty(error));
                }
            }
        }
    }

    [Fact]
    public void Ten_thousand_random_buffers_never_throw()
    {
        var rng = new Random(20261124);
        byte[] alphabet = "@=\0AB/x"u8.ToArray();
        for (int i = 0; i < 10_000; i++)
        {
            int len = rng.Next(0, i % 100 == 0 ? 9000 : 300);
            var buf = new byte[len];
            if (i % 2 == 0)
                rng.NextBytes(buf);
            else
                for (int j = 0; j < len; j++)
                    buf[j] = alphabet[rng.Next(alphabet.Length)]; // structured noise reaches deeper paths
            AssertTotal(buf);
        }
    }

    [Fact]
    public void Ten_thousand_mutations_of_kernel_samples_never_throw()
    {
        var rng = new Random(42);
        byte[] interesting = [0, (byte)'=', (byte)'@', 0xFF, 0xC3, 0x80, (byte)'A'];
        int accepted = 0;
        for (int i = 0; i < 10_000; i++)
        {
            byte[] sample = KernelUeventSamples.Bytes(KernelUeventSamples.All[i % KernelUeventSamples.All.Count]);
            var buf = new List<byte>(sample);
            int mutations = rng.Next(1, 4);
            for (int m = 0; m < mutations && buf.Count > 0; m++)
            {
                int at = rng.Next(buf.Count);
                switch (rng.Next(4))
                {
                    case 0: buf[at] = interesting[rng.Next(interesting.Length)]; break;
                    case 1: buf[at] = (byte)rng.Next(256); break;
                    case 2: buf.RemoveAt(at); break;
                    default: buf.Insert(at, interesting[rng.Next(interesting.Length)]); break;
                }
            }

            byte[] mutated = buf.ToArray();
            int cut = rng.Next(4) == 0 ? rng.Next(mutated.Length + 1) : mutated.Length;
            if (AssertTotal(mutated.AsSpan(0, cut)))
                accepted++;
        }

        // Some mutations (for example inside a value) leave a valid message; most must be rejected.
        Assert.InRange(accepted, 1, 9_999);
    }

    private static bool AssertTotal(ReadOnlySpan<byte> message)
    {
        bool ok = UeventParser.TryParse(message, out var uevent, out var error);
        if (ok)
        {
            Assert.NotNull(uevent);
            Assert.Null(error);
            Assert.Equal(uevent.RawAction, uevent["ACTION"]);
            Assert.Equal(uevent.DevPath, uevent["DEVPATH"]);
        }
        else
        {
            Assert.Null(uevent);
            Assert.False(string.IsNullOrEmpty(error));
        }

        return ok;
    }
}
