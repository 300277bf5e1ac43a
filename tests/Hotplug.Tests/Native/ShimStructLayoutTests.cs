using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hotplug.Interop;

namespace Hotplug.Tests.Native;

/// <summary>
/// The managed mirrors of the shim's structs have the C layout: the same numbers native/hotplug_shim.h pins
/// with <c>_Static_assert</c>. hp_fault_read writes straight into a <c>hp_fault*</c>, so both the marshalled
/// layout (Marshal.OffsetOf) and the in-memory one (field addresses) must match.
/// </summary>
public class ShimStructLayoutTests
{
    [Fact]
    public unsafe void Fault_has_the_size_and_field_offsets_of_struct_hp_fault()
    {
        Assert.Equal(56, Unsafe.SizeOf<NativeShim.hp_fault>());
        Assert.Equal(56, Marshal.SizeOf<NativeShim.hp_fault>());

        NativeShim.hp_fault f = default;
        byte* b = (byte*)&f;
        (string Field, int Offset, long InMemory)[] fields =
        [
            (nameof(f.cookie), 0, (byte*)&f.cookie - b),
            (nameof(f.address), 8, (byte*)&f.address - b),
            (nameof(f.range_start), 16, (byte*)&f.range_start - b),
            (nameof(f.fault_ns), 24, (byte*)&f.fault_ns - b),
            (nameof(f.remapped_ns), 32, (byte*)&f.remapped_ns - b),
            (nameof(f.thread_id), 40, (byte*)&f.thread_id - b),
            (nameof(f.slot), 44, (byte*)&f.slot - b),
            (nameof(f.si_code), 48, (byte*)&f.si_code - b),
            (nameof(f.first), 52, (byte*)&f.first - b),
        ];
        AssertOffsets<NativeShim.hp_fault>(fields);
    }

    [Fact]
    public unsafe void Stats_has_the_size_and_field_offsets_of_struct_hp_stats()
    {
        Assert.Equal(40, Unsafe.SizeOf<NativeShim.hp_stats>());
        Assert.Equal(40, Marshal.SizeOf<NativeShim.hp_stats>());

        NativeShim.hp_stats s = default;
        byte* b = (byte*)&s;
        (string Field, int Offset, long InMemory)[] fields =
        [
            (nameof(s.faults_handled), 0, (byte*)&s.faults_handled - b),
            (nameof(s.faults_chained), 8, (byte*)&s.faults_chained - b),
            (nameof(s.ring_dropped), 16, (byte*)&s.ring_dropped - b),
            (nameof(s.remap_failed), 24, (byte*)&s.remap_failed - b),
            (nameof(s.installed), 32, (byte*)&s.installed - b),
            (nameof(s.ranges), 36, (byte*)&s.ranges - b),
        ];
        AssertOffsets<NativeShim.hp_stats>(fields);
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
