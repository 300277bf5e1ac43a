using System.Buffers.Binary;
using System.Text;

namespace Hotplug.Tests.Native;

/// <summary>One version a shared object needs from a library it links against (one Vernaux entry).</summary>
/// <param name="File">The library (vn_file), e.g. libc.so.6.</param>
/// <param name="Version">The version name (vna_name), e.g. GLIBC_2.17.</param>
/// <param name="Symbols">The imported (undefined) dynamic symbols bound to this version.</param>
internal sealed record VersionNeed(string File, string Version, IReadOnlyList<string> Symbols);

/// <summary>
/// Reads the version needs of a 64-bit little-endian ELF file: the <c>.gnu.version_r</c> (SHT_GNU_verneed)
/// section, and, through <c>.gnu.version</c> (SHT_GNU_versym) and <c>.dynsym</c>, which undefined symbols
/// need each version. The same table <c>readelf -V</c> prints; no binutils needed.
/// </summary>
internal static class ElfVersionNeeds
{
    private const uint ShtDynsym = 11;
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const uint ShtGnuVersym = 0x6fffffff;
    private const int SymSize = 24; // Elf64_Sym

    private readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

    /// <summary>Every Vernaux entry of the file, with the undefined symbols bound to it.</summary>
    public static IReadOnlyList<VersionNeed> Read(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path} is not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path}: only 64-bit little-endian ELF is supported (class {elf[4]}, data {elf[5]})");

        long shoff = (long)U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A);
        int shnum = U16(elf, 0x3C);
        if (shoff == 0 || shnum == 0 || shentsize < 64)
            throw new InvalidDataException($"{path} has no section headers");

        var sections = new Section[shnum];
        for (int i = 0; i < shnum; i++)
        {
            int h = checked((int)(shoff + (long)i * shentsize));
            sections[i] = new Section(U32(elf, h + 4), (long)U64(elf, h + 0x18), (long)U64(elf, h + 0x20),
                U32(elf, h + 0x28), U32(elf, h + 0x2C));
        }

        int verneedIndex = Array.FindIndex(sections, s => s.Type == ShtGnuVerneed);
        if (verneedIndex < 0)
            return [];
        Section verneed = sections[verneedIndex];
        Section verneedStrings = sections[verneed.Link];

        // Version index (vna_other) -> (file, name), from the Verneed/Vernaux chains.
        var needs = new List<(ushort Index, string File, string Version)>();
        long vn = verneed.Offset;
        for (uint e = 0; e < verneed.Info; e++)
        {
            int p = checked((int)vn);
            ushort count = U16(elf, p + 2);
            string file = Str(elf, verneedStrings, U32(elf, p + 4));
            long aux = vn + U32(elf, p + 8);
            for (int a = 0; a < count; a++)
            {
                int q = checked((int)aux);
                ushort index = U16(elf, q + 6);
                needs.Add((index, file, Str(elf, verneedStrings, U32(elf, q + 8))));
                uint nextAux = U32(elf, q + 12);
                if (nextAux == 0)
                    break;
                aux += nextAux;
            }
            uint next = U32(elf, p + 12);
            if (next == 0)
                break;
            vn += next;
        }

        // Which undefined dynamic symbols use each version index.
        var symbols = needs.ToDictionary(n => n.Index, _ => new List<string>());
        int dynsymIndex = Array.FindIndex(sections, s => s.Type == ShtDynsym);
        int versymIndex = Array.FindIndex(sections, s => s.Type == ShtGnuVersym);
        if (dynsymIndex >= 0 && versymIndex >= 0)
        {
            Section dynsym = sections[dynsymIndex];
            Section dynStrings = sections[dynsym.Link];
            Section versym = sections[versymIndex];
            long count = dynsym.Size / SymSize;
            for (long i = 0; i < count; i++)
            {
                int s = checked((int)(dynsym.Offset + i * SymSize));
                bool undefined = U16(elf, s + 6) == 0; // st_shndx == SHN_UNDEF
                ushort index = (ushort)(U16(elf, checked((int)(versym.Offset + i * 2))) & 0x7fff); // bit 15: hidden
                if (undefined && symbols.TryGetValue(index, out var list))
                    list.Add(Str(elf, dynStrings, U32(elf, s)));
            }
        }

        return needs.Select(n => new VersionNeed(n.File, n.Version, symbols[n.Index])).ToList();
    }

    private static ushort U16(byte[] b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at, 2));

    private static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at, 4));

    private static ulong U64(byte[] b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at, 8));

    /// <summary>The NUL-terminated string at <paramref name="offset"/> of a string table section.</summary>
    private static string Str(byte[] b, Section table, uint offset)
    {
        if (offset >= table.Size)
            throw new InvalidDataException($"string offset {offset} outside a string table of {table.Size} bytes");
        var span = b.AsSpan(checked((int)(table.Offset + offset)), checked((int)(table.Size - offset)));
        int end = span.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
    }
}
