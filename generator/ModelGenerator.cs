using System;
using System.IO;
using System.Linq;
using GraphCompiler.Common;
using GraphCompiler.Compilation;
using GraphCompiler.Spec;
using Microsoft.CodeAnalysis;

namespace GraphCompiler.Generator
{
    /// <summary>
    /// For every *.yaml AdditionalFile: parse and validate the spec, compile it (graph, fusion, memory plan, kernels)
    /// and emit a partial model class; spec errors become GC diagnostics located in the YAML file. The pipeline's value
    /// is an equatable (hint name, source, diagnostics), so edits elsewhere in the project rerun nothing.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class ModelGenerator : IIncrementalGenerator
    {
        public const string SpecStepName = "GraphCompiler.Spec";
        public const string CatalogStepName = "GraphCompiler.Catalog";

        /// <summary>The runtime's model type: a project that references the runtime gets Load(path) on each model class.</summary>
        public const string LanguageModelType = "GraphCompiler.Runtime.Generation.LanguageModel";

        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            // A bool, so an edit elsewhere in the project changes nothing downstream.
            var hasRuntime = context.CompilationProvider.Select(static (compilation, _) => compilation.GetTypeByMetadataName(LanguageModelType) != null);
            var specs = context.AdditionalTextsProvider
                .Where(static text => text.Path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase)
                                      || text.Path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                .Combine(hasRuntime)
                .Select(static (pair, cancellationToken) => Generate(pair.Left.Path, pair.Left.GetText(cancellationToken)?.ToString() ?? "", pair.Right))
                .WithTrackingName(SpecStepName);

            context.RegisterSourceOutput(specs, static (output, generated) =>
            {
                foreach (var diagnostic in generated.Diagnostics)
                    output.ReportDiagnostic(SpecDiagnosticDescriptors.Create(diagnostic));
                if (generated.Source != null) output.AddSource(generated.HintName, generated.Source);
            });

            var catalog = specs
                .Where(static g => g.Entry != null)
                .Select(static (g, _) => g.Entry!)
                .Collect()
                .Select(static (entries, _) => entries.OrderBy(e => e.SpecName, StringComparer.Ordinal).ToEquatableArray())
                .WithTrackingName(CatalogStepName);
            context.RegisterSourceOutput(catalog, static (output, entries) => output.AddSource("SpecCatalog.g.cs", SpecCatalogEmitter.Emit(entries)));
        }

        internal static GeneratedSpec Generate(string path, string text, bool withLoad)
        {
            var (parse, model) = ModelCompiler.Compile(path, text);
            string hint = Path.GetFileNameWithoutExtension(path) + ".g.cs";
            string? source = model is null ? null : ModelClassEmitter.Emit(model, text, Path.GetFileName(path), withLoad);
            var entry = model is null ? null : new CatalogEntry(model.Spec.Name, model.Spec.Namespace + "." + model.Spec.ClassName);
            return new GeneratedSpec(hint, source, parse.Diagnostics.ToEquatableArray(), entry);
        }
    }

    /// <summary>The generator's cached value per spec file.</summary>
    internal sealed record GeneratedSpec(string HintName, string? Source, EquatableArray<SpecDiagnostic> Diagnostics, CatalogEntry? Entry);

    /// <summary>A compiled spec as the catalog lists it.</summary>
    internal sealed record CatalogEntry(string SpecName, string ClassName);
}
