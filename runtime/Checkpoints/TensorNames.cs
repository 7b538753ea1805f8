using System;
using System.Collections.Generic;
using System.Globalization;

namespace GraphCompiler.Runtime.Checkpoints
{
    /// <summary>Hugging Face tensor names: natural order (layer 2 before layer 10) and the decoder layer a name belongs to.</summary>
    public static class TensorNames
    {
        public const string LayerPrefix = "model.layers.";

        /// <summary>Ordinal, except that runs of digits compare as numbers.</summary>
        public static readonly IComparer<string> NaturalOrder = Comparer<string>.Create(CompareNatural);

        /// <summary>"model.layers.12.mlp.up_proj.weight" → 12 and "mlp.up_proj.weight"; false for names outside the layers.</summary>
        public static bool TryParseLayer(string name, out int layer, out string suffix)
        {
            layer = -1;
            suffix = "";
            if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal)) return false;
            int dot = name.IndexOf('.', LayerPrefix.Length);
            if (dot < 0 || !int.TryParse(name.AsSpan(LayerPrefix.Length, dot - LayerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out layer))
                return false;
            suffix = name.Substring(dot + 1);
            return true;
        }

        private static int CompareNatural(string? a, string? b)
        {
            if (a is null || b is null) return a is null ? (b is null ? 0 : -1) : 1;
            int i = 0, j = 0;
            while (i < a.Length && j < b.Length)
            {
                if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
                {
                    int si = i, sj = j;
                    while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                    while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                    var x = a.AsSpan(si, i - si).TrimStart('0');
                    var y = b.AsSpan(sj, j - sj).TrimStart('0');
                    // Longer digit runs are larger numbers; equal lengths compare digit by digit, so no run can overflow.
                    int c = x.Length != y.Length ? x.Length.CompareTo(y.Length) : x.SequenceCompareTo(y);
                    if (c != 0) return c;
                    continue;
                }
                if (a[i] != b[j]) return a[i].CompareTo(b[j]);
                i++;
                j++;
            }
            int rest = (a.Length - i).CompareTo(b.Length - j);
            return rest != 0 ? rest : string.CompareOrdinal(a, b);
        }
    }
}
