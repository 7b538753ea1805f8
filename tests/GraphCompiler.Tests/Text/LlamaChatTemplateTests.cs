using System;
using System.Linq;
using GraphCompiler.Runtime.Text;

namespace GraphCompiler.Tests.Text
{
    public class LlamaChatTemplateTests
    {
        private static readonly LlamaTextTokenizer Tokenizer = LlamaTextTokenizer.Open(LlamaTextTokenizerTests.ModelFolder);

        [Fact]
        public void A_single_turn_is_bos_then_inst_markers_around_the_user_text()
        {
            var ids = LlamaChatTemplate.Encode(Tokenizer, new[] { new ChatTurn("  How do I install a package?  ") });
            Assert.Equal(Tokenizer.BeginOfSentenceId, ids[0]);
            Assert.Equal(1, ids.Count(id => id == Tokenizer.BeginOfSentenceId));
            Assert.DoesNotContain(Tokenizer.EndOfSentenceId, ids);
            Assert.Equal("[INST] How do I install a package? [/INST]", Tokenizer.Decode(ids));
        }

        [Fact]
        public void The_system_prompt_is_folded_into_the_first_turn_and_answers_end_with_eos()
        {
            var ids = LlamaChatTemplate.Encode(Tokenizer,
                new[] { new ChatTurn("Hello", "Hi."), new ChatTurn("And apt?") }, system: "Be brief.");
            Assert.Equal(2, ids.Count(id => id == Tokenizer.BeginOfSentenceId));
            Assert.Equal(1, ids.Count(id => id == Tokenizer.EndOfSentenceId));
            int eos = Array.IndexOf(ids, Tokenizer.EndOfSentenceId);
            Assert.Equal(Tokenizer.BeginOfSentenceId, ids[eos + 1]);   // the next turn starts a new sequence
            Assert.Equal("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi.", Tokenizer.Decode(ids.Take(eos)).TrimEnd());
        }

        [Fact]
        public void Only_the_last_turn_may_await_an_answer()
        {
            var e = Assert.Throws<ArgumentException>(() => LlamaChatTemplate.Encode(Tokenizer, new[] { new ChatTurn("a"), new ChatTurn("b") }));
            Assert.Contains("turn 1 has no answer", e.Message);
        }
    }
}
