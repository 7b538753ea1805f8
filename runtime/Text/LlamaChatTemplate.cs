using System;
using System.Collections.Generic;

namespace GraphCompiler.Runtime.Text
{
    /// <summary>One exchange of a chat: what the user said, and the model's answer when it has been given.</summary>
    public sealed record ChatTurn(string User, string? Assistant = null);

    /// <summary>
    /// Llama-2-chat's prompt format, as its tokenizer_config chat template writes it: each user turn is
    /// BOS "[INST] {user} [/INST]", each answer " {answer} " EOS, and a system prompt is folded into the first user turn
    /// as "&lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n". BOS and EOS are the special ids, never text.
    /// </summary>
    public static class LlamaChatTemplate
    {
        public static int[] Encode(LlamaTextTokenizer tokenizer, IReadOnlyList<ChatTurn> turns, string? system = null)
        {
            if (turns.Count == 0) throw new ArgumentException("a chat needs at least one user turn", nameof(turns));
            var ids = new List<int>();
            for (int i = 0; i < turns.Count; i++)
            {
                var turn = turns[i];
                if (turn.Assistant is null && i < turns.Count - 1)
                    throw new ArgumentException($"turn {i + 1} has no answer, but turns follow it; only the last turn awaits the model", nameof(turns));
                string user = turn.User.Trim();
                if (i == 0 && !string.IsNullOrWhiteSpace(system)) user = "<<SYS>>\n" + system!.Trim() + "\n<</SYS>>\n\n" + user;
                // A turn and its answer are one piece of text between the special tokens, as the rendered template is.
                ids.Add(tokenizer.BeginOfSentenceId);
                ids.AddRange(tokenizer.EncodeWithoutBos("[INST] " + user + " [/INST]" + (turn.Assistant is null ? "" : " " + turn.Assistant.Trim() + " ")));
                if (turn.Assistant != null) ids.Add(tokenizer.EndOfSentenceId);
            }
            return ids.ToArray();
        }
    }
}
