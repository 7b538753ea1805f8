using System;
using System.Globalization;

namespace GraphCompiler.Common
{
    /// <summary>Byte counts as people write them: "16GiB", "16 GB", "512MiB", "1073741824".</summary>
    public static class ByteSize
    {
        private static readonly (string Suffix, long Factor)[] Units =
        {
            ("TiB", 1L << 40), ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10),
            ("TB", 1_000_000_000_000L), ("GB", 1_000_000_000L), ("MB", 1_000_000L), ("KB", 1_000L), ("B", 1L),
        };

        public const string Accepted = "a byte count with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 16GiB";

        public static bool TryParse(string text, out long bytes)
        {
            bytes = 0;
            var s = text.Trim();
            long factor = 0;
            foreach (var (suffix, f) in Units)
            {
                if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                {
                    factor = f;
                    s = s.Substring(0, s.Length - suffix.Length).Trim();
                    break;
                }
            }
            // A bare number is refused: "16" is far more likely a forgotten "GiB" than sixteen bytes.
            if (factor == 0) return false;
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)) return false;
            if (double.IsNaN(value) || value <= 0 || value * factor > long.MaxValue / 2) return false;
            bytes = (long)Math.Round(value * factor);
            return true;
        }

        /// <summary>Binary units with two decimals; the exact count is what tools should read (JSON).</summary>
        public static string Format(long bytes)
        {
            double b = Math.Abs((double)bytes);
            string sign = bytes < 0 ? "-" : "";
            if (b >= 1L << 30) return sign + (b / (1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB";
            if (b >= 1L << 20) return sign + (b / (1L << 20)).ToString("0.00", CultureInfo.InvariantCulture) + " MiB";
            if (b >= 1L << 10) return sign + (b / (1L << 10)).ToString("0.00", CultureInfo.InvariantCulture) + " KiB";
            return sign + ((long)b).ToString(CultureInfo.InvariantCulture) + " B";
        }
    }
}
