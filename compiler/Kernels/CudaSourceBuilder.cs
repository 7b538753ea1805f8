using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using GraphCompiler.Common;

namespace GraphCompiler.Kernels
{
    /// <summary>
    /// Writes one kernel file the way a person would: a heading comment, the prelude, named constants for every baked-in
    /// shape and tile, the entry point, and the body in commented stages. Emitters supply the text of each part.
    /// </summary>
    internal sealed class CudaSourceBuilder
    {
        private readonly StringBuilder _text = new StringBuilder();
        private readonly List<KernelParameter> _parameters = new List<KernelParameter>();

        public CudaSourceBuilder(string name, string what, DType activation, PreludeFeatures features)
        {
            Name = name;
            _text.Append("// ").Append(name).Append(": ").Append(what).Append('\n');
            _text.Append("// Emitted by GraphCompiler from the model spec; regenerate rather than edit.\n\n");
            _text.Append(KernelPrelude.Emit(activation, features)).Append('\n');
        }

        public string Name { get; }

        public IReadOnlyList<KernelParameter> Parameters => _parameters;

        public CudaSourceBuilder Constant(string name, long value, string why)
        {
            _text.Append($"constexpr int {name} = {value.ToString(CultureInfo.InvariantCulture)};  // {why}\n");
            return this;
        }

        public CudaSourceBuilder Constant(string name, float value, string why)
        {
            _text.Append($"constexpr float {name} = {FloatLiteral(value)};  // {why}\n");
            return this;
        }

        public CudaSourceBuilder Raw(string text)
        {
            _text.Append(text);
            return this;
        }

        public CudaSourceBuilder Parameter(string cType, string name, string binds)
        {
            _parameters.Add(new KernelParameter(name, cType, binds));
            return this;
        }

        /// <summary>The entry point with the parameters declared so far, then the body.</summary>
        /// <param name="minBlocksConstant">Optional: the CTAs per SM the compiler must leave registers for.</param>
        public string Finish(string threadsConstant, string body, string? minBlocksConstant = null)
        {
            _text.Append('\n');
            string bounds = minBlocksConstant is null ? threadsConstant : threadsConstant + ", " + minBlocksConstant;
            _text.Append($"extern \"C\" __global__ void __launch_bounds__({bounds}) {Name}(\n");
            _text.Append(string.Join(",\n", _parameters.Select(p => $"    {p.CType} {p.Name}")));
            _text.Append(")\n{\n").Append(body.TrimEnd('\n')).Append("\n}\n");
            return _text.ToString();
        }

        /// <summary>A block of kernel body text one level (four spaces) deeper; preprocessor lines (#pragma) stay in column 0,
        /// as everywhere else in the emitted code.</summary>
        public static string Indent(string block) =>
            string.Join("\n", block.Split('\n').Select(line => line.Length == 0 || line[0] == '#' ? line : "    " + line));

        /// <summary>A float literal that reads back as exactly the same float ("G9" round-trips binary32).</summary>
        public static string FloatLiteral(float value)
        {
            string s = value.ToString("G9", CultureInfo.InvariantCulture);
            if (!s.Contains('.') && !s.Contains('E')) s += ".0";
            return s.Replace("E", "e") + "f";
        }
    }
}
