using System;
using System.Collections.Generic;
using System.Linq;
using GraphCompiler.Runtime.Text;

namespace GraphCompiler.Runtime.Generation
{
    /// <summary>
    /// The text a sequence has generated, released piece by piece. SentencePiece joins pieces (a leading "▁" becomes a
    /// space only after other text; bytes of one character arrive as several tokens), so each step decodes prompt and
    /// completion together and takes what follows the prompt's text. Characters that might begin a stop string, and an
    /// unfinished UTF-8 character (U+FFFD), are held back until the next token settles them; a stop string ends the text
    /// just before it.
    /// </summary>
    internal sealed class CompletionText
    {
        private readonly LlamaTextTokenizer _tokenizer;
        private readonly List<int> _ids;
        private readonly int _promptCount;
        private readonly string _promptText;
        private readonly IReadOnlyList<string> _stops;
        private readonly int _holdBack;
        private string _text = "";
        private int _released;

        public CompletionText(LlamaTextTokenizer tokenizer, IReadOnlyList<int> prompt, IReadOnlyList<string>? stops)
        {
            _tokenizer = tokenizer;
            _ids = new List<int>(prompt);
            _promptCount = prompt.Count;
            _promptText = tokenizer.Decode(prompt);
            _stops = stops ?? Array.Empty<string>();
            _holdBack = _stops.Count == 0 ? 0 : _stops.Max(s => s.Length) - 1;
        }

        /// <summary>Adds a token; returns the text now safe to release, and whether a stop string ended the text.</summary>
        public (string Released, bool Stopped) Add(int token)
        {
            _ids.Add(token);
            string full = _tokenizer.Decode(_ids);
            _text = full.StartsWith(_promptText, StringComparison.Ordinal) ? full.Substring(_promptText.Length) : _tokenizer.Decode(_ids.Skip(_promptCount));
            int stop = _stops.Select(s => _text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
            if (stop >= 0)
            {
                _text = _text.Substring(0, stop);
                return (Finish(), true);
            }
            int safe = _text.Length - _holdBack;
            while (safe > 0 && _text[safe - 1] == '\uFFFD') safe--;
            return (Release(safe), false);
        }

        /// <summary>The rest of the text, at the sequence's end.</summary>
        public string Finish() => Release(_text.Length);

        private string Release(int upTo)
        {
            if (upTo <= _released) return "";
            string piece = _text.Substring(_released, upTo - _released);
            _released = upTo;
            return piece;
        }
    }
}
