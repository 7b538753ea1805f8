using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Tokenizers;

namespace GraphCompiler.Runtime.Text
{
    /// <summary>
    /// A Llama SentencePiece tokenizer (tokenizer.model) through Microsoft.ML.Tokenizers: text to ids with BOS first
    /// (as the model was trained), and ids back to text.
    /// </summary>
    public sealed class LlamaTextTokenizer
    {
        public const string FileName = "tokenizer.model";

        private readonly LlamaTokenizer _tokenizer;

        private LlamaTextTokenizer(LlamaTokenizer tokenizer) => _tokenizer = tokenizer;

        /// <summary>Opens tokenizer.model from a model folder, or the file itself.</summary>
        public static LlamaTextTokenizer Open(string path)
        {
            string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
            if (!File.Exists(file))
                throw new FileNotFoundException($"no SentencePiece {FileName} at {file}; a Llama checkpoint folder ships one beside its weights", file);
            using var stream = File.OpenRead(file);
            return new LlamaTextTokenizer(LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false));
        }

        public int BeginOfSentenceId => _tokenizer.BeginningOfSentenceId;
        public int EndOfSentenceId => _tokenizer.EndOfSentenceId;
        public int VocabularySize => _tokenizer.Vocabulary.Count;

        public int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

        /// <summary>Paragraphs as one token stream, each BOS, its tokens, EOS: how train_small.py built its held-out stream.</summary>
        public List<int> EncodeParagraphs(IEnumerable<string> paragraphs)
        {
            var stream = new List<int>();
            foreach (var paragraph in paragraphs.Where(p => p.Trim().Length > 0))
            {
                stream.AddRange(Encode(paragraph));
                stream.Add(EndOfSentenceId);
            }
            return stream;
        }

        /// <summary>The ids of <paramref name="text"/> alone, without BOS: a piece of a longer prompt.</summary>
        public int[] EncodeWithoutBos(string text) =>
            _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false).ToArray();

        public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids.Where(id => id != BeginOfSentenceId && id != EndOfSentenceId)) ?? "";
    }
}
