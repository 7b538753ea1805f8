namespace GraphCompiler.Kernels.Sampling
{
    /// <summary>
    /// One row of the sampler's parameter table: which logits row to read, the sequence's penalty-state slot, its sampling
    /// parameters (fp32 as bits) and the seed and step its draw comes from. The emitter names these words as constants;
    /// the runtime fills them.
    /// </summary>
    public static class SamplingRow
    {
        public const int LogitsRow = 0;
        /// <summary>The sequence's slot in the penalty state, or −1 when it samples without penalties.</summary>
        public const int StateSlot = 1;
        public const int Temperature = 2;
        public const int TopK = 3;
        public const int TopP = 4;
        public const int MinP = 5;
        public const int Repetition = 6;
        public const int Frequency = 7;
        public const int Presence = 8;
        public const int SeedLow = 9;
        public const int SeedHigh = 10;
        public const int StepLow = 11;
        public const int StepHigh = 12;
        /// <summary>Ints a row takes (padded to 64 bytes).</summary>
        public const int Words = 16;

        /// <summary>The words as the kernel names them: constant, index, meaning.</summary>
        public static readonly (string Constant, int Word, string Meaning)[] Named =
        {
            ("kRowLogits", LogitsRow, "the logits row to read"),
            ("kRowStateSlot", StateSlot, "penalty-state slot, −1 for none"),
            ("kRowTemperature", Temperature, "temperature (fp32 bits), 0 greedy"),
            ("kRowTopK", TopK, "top_k, 0 off"),
            ("kRowTopP", TopP, "top_p (fp32 bits)"),
            ("kRowMinP", MinP, "min_p (fp32 bits)"),
            ("kRowRepetition", Repetition, "repetition penalty (fp32 bits)"),
            ("kRowFrequency", Frequency, "frequency penalty (fp32 bits)"),
            ("kRowPresence", Presence, "presence penalty (fp32 bits)"),
            ("kRowSeedLow", SeedLow, "seed, low half"),
            ("kRowSeedHigh", SeedHigh, "seed, high half"),
            ("kRowStepLow", StepLow, "the sequence's sampling step, low half"),
            ("kRowStepHigh", StepHigh, "the sequence's sampling step, high half"),
        };

        /// <summary>A penalty-state word: this bit once the token was in the prompt or generated; below it, how often it was generated.</summary>
        public const uint SeenBit = 0x8000_0000u;
    }
}
