using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hotplug.Linux;

namespace Hotplug.Tests.Native;

/// <summary>
/// The managed mirrors of the shim's structs have the C layout: the same numbers native/hotplug_shim.h pins
/// with <c>_Static_assert</c>. hp_fault_read writes straight into a <c>Fault*</c>, so both the marshalled
/// layout (Marshal.OffsetOf) and the in-memory one (field addresses) must match.
/// </summary>
public class ShimStructLayoutTests
{
    [Fact]
    public unsafe void Fault_has_the_size_and_field_offsets_of_struct_hp_fault()
    {
        Assert.Equal(56, Unsafe.SizeOf<NativeShim.Fault>());
        Assert.Equal(56, Marshal.SizeOf<NativeShim.Fault>());

        NativeShim.Fault f = default;
        byte* b = (byte*)&f;
        (string Field, int Offset, long InMemory)[] fields =
        [
            (nameof(f.Cookie), 0, (byte*)&f.Cookie - b),
            (nameof(f.Address), 8, (byte*)&f.Address - b),
            (nameof(f.RangeStart), 16, (byte*)&f.RangeStart - b),
            (nameof(f.FaultNs), 24, (byte*)&f.FaultNs - b),
            (nameof(f.RemappedNs), 32, (byte*)&f.RemappedNs - b),
            (nameof(f.ThreadId), 40, (byte*)&f.ThreadId - b),
            (nameof(f.Slot), 44, (byte*)&f.Slot - b),
            (nameof(f.SiCode), 48, (byte*)&f.SiCode - b),
            (nameof(f.First), 52, (byte*)&f.First - b),
        ];
        AssertOffsets<NativeShim.Fault>(fields);
    }

    [Fact]
    public unsafe void Stats_has_the_size_and_field_offsets_of_struct_hp_stats()
    {
        Assert.Equal(40, Unsafe.SizeOf<NativeShim.Stats>());
        Assert.Equal(40, Marshal.SizeOf<NativeShim.Stats>());

        NativeShim.Stats s = default;
        byte* b = (byte*)&s;
        (string Field, int Offset, long InMemory)[] fields =
        [
            (nameof(s.FaultsHandled), 0, (byte*)&s.FaultsHandled - b),
            (nameof(s.FaultsChained), 8, (byte*)&s.FaultsChained - b),
            (nameof(s.RingDropped), 16, (byte*)&s.RingDropped - b),
            (nameof(s.RemapFailed), 24, (byte*)&s.RemapFailed - b),
            (nameof(s.Installed), 32, (byte*)&s.Installed - b),
            (nameof(s.Ranges), 36, (byte*)&s.Ranges - b),
        ];
        AssertOffsets<NativeShim.Stats>(fields);
    }

    /// <summary>Every public field is listed, and each is at its C offset both marshalled and in memory.</summary>
    private static void AssertOffsets<T>((string Field, int Offset, long InMemory)[] fields)
        where T : struct
    {
        var declared = typeof(T).GetFields().Select(f => f.Name).Order(StringComparer.Ordinal);
        Assert.Equal(declared, fields.Select(f => f.Field).Order(StringComparer.Ordinal));
        foreach (var (field, offset, inMemory) in fields)
        {
            Assert.True(offset == (int)Marshal.OffsetOf<T>(field), $"{typeof(T).Name}.{field}: marshalled at {Marshal.OffsetOf<T>(field)}, C has {offset}");
            Assert.True(offset == inMemory, $"{typeof(T).Name}.{field}: in memory at {inMemory}, C has {offset}");
        }
    }
}
