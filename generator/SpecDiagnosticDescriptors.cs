using System.Collections.Generic;
using GraphCompiler.Spec;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace GraphCompiler.Generator
{
    /// <summary>Roslyn descriptors for the spec compiler's diagnostics (IDs GC0001…), and their locations in the YAML file.</summary>
    internal static class SpecDiagnosticDescriptors
    {
        private const string Category = "GraphCompiler.Spec";
        private static readonly Dictionary<string, DiagnosticDescriptor> Errors = new Dictionary<string, DiagnosticDescriptor>();
        private static readonly Dictionary<string, DiagnosticDescriptor> Warnings = new Dictionary<string, DiagnosticDescriptor>();

        static SpecDiagnosticDescriptors()
        {
            foreach (var id in SpecDiagnosticIds.All)
            {
                Errors[id] = new DiagnosticDescriptor(id, SpecDiagnosticIds.Title(id), "{0}", Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
                Warnings[id] = new DiagnosticDescriptor(id, SpecDiagnosticIds.Title(id), "{0}", Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);
            }
        }

        public static Diagnostic Create(SpecDiagnostic d) =>
            Diagnostic.Create((d.IsError ? Errors : Warnings)[d.Id], ToLocation(d.Location), d.Message);

        private static Location ToLocation(SpecLocation l)
        {
            var start = new LinePosition(l.StartLine - 1, l.StartColumn - 1);
            var end = new LinePosition(System.Math.Max(l.EndLine, l.StartLine) - 1, l.EndLine > l.StartLine || l.EndColumn >= l.StartColumn ? l.EndColumn - 1 : l.StartColumn - 1);
            var span = TextSpan.FromBounds(l.StartOffset, System.Math.Max(l.StartOffset, l.EndOffset));
            return Location.Create(l.FilePath, span, new LinePositionSpan(start, end));
        }
    }
}
