using System;
using System.Collections.Generic;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>
    /// Draft tokens without a draft model (prompt lookup decoding): the tokens that followed the latest earlier occurrence
    /// of the sequence's last n tokens, longest n first. Text that quotes or repeats its prompt (code edits, summaries,
    /// extraction, lists) drafts well; elsewhere nothing matches and the step verifies no drafts.
    /// </summary>
    public static class PromptLookupDraft
    {
        /// <summary>The longest and shortest suffix matched.</summary>
        public const int MaxNgram = 3, MinNgram = 1;

        /// <summary>Up to <paramref name="count"/> tokens following the latest earlier match of the history's last n tokens.</summary>
        public static int[] Next(IReadOnlyList<int> history, int count)
        {
            if (count <= 0) return Array.Empty<int>();
            int length = history.Count;
            for (int n = Math.Min(MaxNgram, length - 1); n >= MinNgram; n--)
                for (int start = length - n - 1; start >= 0; start--)   // the latest match first; a match must have a token after it
                {
                    int k = 0;
                    while (k < n && history[start + k] == history[length - n + k]) k++;
                    if (k < n) continue;
                    int from = start + n, take = Math.Min(count, length - from);
                    var draft = new int[take];
                    for (int i = 0; i < take; i++) draft[i] = history[from + i];
                    return draft;
                }
            return Array.Empty<int>();
        }
    }
}
