using System.Runtime.InteropServices;
using System.Text;

namespace MeZO.Engine.Distributed;

/// <summary>The typed collectives built on <see cref="ICommunicator.AllGather"/>, and how a list is shared out over the ranks.</summary>
public static class Collectives
{
    /// <summary>
    /// This rank's contiguous share of <paramref name="count"/> items: rank r takes [⌊count·r/size⌋, ⌊count·(r+1)/size⌋),
    /// so the shares, concatenated in rank order, are the items in their order, and sizes differ by at most one.
    /// </summary>
    public static (int Start, int Count) ShareOf(this ICommunicator ranks, int count)
    {
        int start = (int)((long)count * ranks.Rank / ranks.Size);
        int end = (int)((long)count * (ranks.Rank + 1) / ranks.Size);
        return (start, end - start);
    }

    /// <summary>Every rank's values, indexed by rank.</summary>
    public static double[][] AllGather(this ICommunicator ranks, ReadOnlySpan<double> mine) =>
        ranks.Size == 1 ? [mine.ToArray()] : ranks.AllGather(MemoryMarshal.AsBytes(mine)).Select(p => MemoryMarshal.Cast<byte, double>(p).ToArray()).ToArray();

    /// <summary>Every rank's values concatenated in rank order (with <see cref="ShareOf"/>: in item order).</summary>
    public static double[] AllGatherConcatenated(this ICommunicator ranks, ReadOnlySpan<double> mine) =>
        ranks.Size == 1 ? mine.ToArray() : ranks.AllGather(mine).SelectMany(p => p).ToArray();

    /// <summary>Every rank's strings concatenated in rank order (UTF-8 on the wire, each prefixed by its length).</summary>
    public static string[] AllGatherConcatenated(this ICommunicator ranks, IReadOnlyList<string> mine)
    {
        if (ranks.Size == 1) return [.. mine];
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
            foreach (string s in mine) writer.Write(s);
        var all = new List<string>();
        foreach (var part in ranks.AllGather(buffer.ToArray()))
        {
            using var reader = new BinaryReader(new MemoryStream(part), Encoding.UTF8);
            while (reader.BaseStream.Position < part.Length) all.Add(reader.ReadString());
        }
        return [.. all];
    }
}
