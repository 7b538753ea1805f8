using System;
using System.Globalization;

namespace GraphCompiler.Spec
{
    public enum SpecSeverity { Error, Warning }

    /// <summary>A span of a spec file: 1-based line and column (as editors show them) and 0-based character offsets.</summary>
    public readonly record struct SpecLocation(
        string FilePath, int StartLine, int StartColumn, int EndLine, int EndColumn, int StartOffset, int EndOffset)
    {
        public static SpecLocation StartOf(string filePath) => new SpecLocation(filePath, 1, 1, 1, 1, 0, 0);

        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "{0}:{1}:{2}", FilePath, StartLine, StartColumn);
    }

    /// <summary>One problem found in a spec: a stable ID, where it is, what is wrong and what is allowed.</summary>
    public sealed record SpecDiagnostic(string Id, SpecSeverity Severity, string Message, SpecLocation Location)
    {
        public bool IsError => Severity == SpecSeverity.Error;

        /// <summary>The compiler-style line an editor can jump to: file:line:col: error GC0003: message.</summary>
        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "{0}: {1} {2}: {3}",
                Location, Severity == SpecSeverity.Error ? "error" : "warning", Id, Message);
    }

    /// <summary>
    /// Every diagnostic the spec compiler reports. IDs are stable: once shipped, an ID keeps its meaning.
    /// </summary>
    public static class SpecDiagnosticIds
    {
        public const string YamlSyntax = "GC0001";
        public const string EmptySpec = "GC0002";
        public const string UnknownKey = "GC0003";
        public const string MissingKey = "GC0004";
        public const string WrongType = "GC0005";
        public const string InvalidEnum = "GC0006";
        public const string OutOfRange = "GC0007";
        public const string DuplicateKey = "GC0008";
        public const string InvalidName = "GC0009";

        public const string HeadsDoNotDivideHidden = "GC0010";
        public const string KvHeadsDoNotDivideHeads = "GC0011";
        public const string UnsupportedHeadDim = "GC0012";
        public const string UnsupportedArchitecture = "GC0013";

        public const string BadLayerRange = "GC0020";
        public const string QuantizationGap = "GC0021";
        public const string ShadowedOverride = "GC0022";
        public const string SchemeNotAllowedForModule = "GC0023";
        public const string OptionNotApplicable = "GC0024";
        public const string WeightDTypeMismatch = "GC0025";
        public const string GroupSizeDoesNotDivideK = "GC0026";

        public const string LimitsInconsistent = "GC0040";
        public const string BadByteSize = "GC0041";
        public const string ParallelDoesNotDivide = "GC0042";

        public const string UnknownGpuArch = "GC0050";
        public const string TileMmaShape = "GC0051";
        public const string TileSharedMemory = "GC0052";
        public const string TileRegisters = "GC0053";
        public const string TileDoesNotDivideShape = "GC0054";

        /// <summary>Titles, for the generator's descriptors and the docs table.</summary>
        public static string Title(string id) => id switch
        {
            YamlSyntax => "YAML syntax error",
            EmptySpec => "Spec file is empty",
            UnknownKey => "Unknown key",
            MissingKey => "Required key missing",
            WrongType => "Value has the wrong type",
            InvalidEnum => "Value is not one of the allowed names",
            OutOfRange => "Number out of range",
            DuplicateKey => "Key appears twice",
            InvalidName => "Name is not usable",
            HeadsDoNotDivideHidden => "hidden_size not divisible by num_attention_heads",
            KvHeadsDoNotDivideHeads => "num_attention_heads not divisible by num_key_value_heads",
            UnsupportedHeadDim => "head_dim not supported by the attention kernels",
            UnsupportedArchitecture => "Model architecture not supported",
            BadLayerRange => "Layer range invalid",
            QuantizationGap => "Module has no quantization scheme",
            ShadowedOverride => "Quantization override never applies",
            SchemeNotAllowedForModule => "Scheme not allowed for this module",
            OptionNotApplicable => "Option does not apply to this scheme",
            WeightDTypeMismatch => "Weight dtype differs from activation dtype",
            GroupSizeDoesNotDivideK => "group_size does not divide the input dimension",
            LimitsInconsistent => "Limits contradict each other",
            BadByteSize => "Byte size not understood",
            ParallelDoesNotDivide => "Model cannot be split over that many GPUs",
            UnknownGpuArch => "Unknown GPU architecture",
            TileMmaShape => "Tile does not fit the MMA shape",
            TileSharedMemory => "Tile needs more shared memory than the architecture has",
            TileRegisters => "Tile needs more registers than a thread has",
            TileDoesNotDivideShape => "Tile does not divide a model dimension",
            _ => throw new ArgumentOutOfRangeException(nameof(id), id, "unknown diagnostic id"),
        };

        public static readonly string[] All =
        {
            YamlSyntax, EmptySpec, UnknownKey, MissingKey, WrongType, InvalidEnum, OutOfRange, DuplicateKey, InvalidName,
            HeadsDoNotDivideHidden, KvHeadsDoNotDivideHeads, UnsupportedHeadDim, UnsupportedArchitecture,
            BadLayerRange, QuantizationGap, ShadowedOverride, SchemeNotAllowedForModule, OptionNotApplicable,
            WeightDTypeMismatch, GroupSizeDoesNotDivideK,
            LimitsInconsistent, BadByteSize, ParallelDoesNotDivide,
            UnknownGpuArch, TileMmaShape, TileSharedMemory, TileRegisters, TileDoesNotDivideShape,
        };
    }
}
