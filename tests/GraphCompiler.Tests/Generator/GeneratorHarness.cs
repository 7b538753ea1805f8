using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using GraphCompiler.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace GraphCompiler.Tests.Generator
{
    /// <summary>Drives the model generator in memory over YAML AdditionalFiles, as csc would.</summary>
    internal static class GeneratorHarness
    {
        public sealed class InMemoryText : AdditionalText
        {
            private readonly SourceText _text;

            public InMemoryText(string path, string text)
            {
                Path = path;
                _text = SourceText.From(text);
            }

            public override string Path { get; }
            public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
        }

        /// <summary>A project's compilation: the platform, the compiler and (as the test host has it) the runtime, graphc.dll.</summary>
        public static CSharpCompilation NewCompilation(params string[] sources) => NewCompilation(runtime: true, sources);

        public static CSharpCompilation NewCompilation(bool runtime, params string[] sources)
        {
            var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(System.IO.Path.PathSeparator)
                .Where(p => runtime || System.IO.Path.GetFileName(p) != "graphc.dll")
                .Select(p => MetadataReference.CreateFromFile(p))
                .Append(MetadataReference.CreateFromFile(typeof(GraphCompiler.Spec.ModelSpec).Assembly.Location));
            return CSharpCompilation.Create("Models", sources.Select(s => CSharpSyntaxTree.ParseText(s)), references,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        }

        public static GeneratorDriver NewDriver(params AdditionalText[] texts) =>
            CSharpGeneratorDriver.Create(new[] { new ModelGenerator().AsSourceGenerator() }, texts, parseOptions: null, optionsProvider: null,
                driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

        public static (GeneratorDriverRunResult Result, Microsoft.CodeAnalysis.Compilation Output) Run(params AdditionalText[] texts) => Run(runtime: true, texts);

        public static (GeneratorDriverRunResult Result, Microsoft.CodeAnalysis.Compilation Output) Run(bool runtime, params AdditionalText[] texts)
        {
            var driver = NewDriver(texts).RunGeneratorsAndUpdateCompilation(NewCompilation(runtime), out var output, out _);
            return (driver.GetRunResult(), output);
        }

        public static AdditionalText Shipped(string name) => new InMemoryText("/repo/specs/" + name + ".yaml", TestSpecs.Text(name));
    }
}
