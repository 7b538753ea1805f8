namespace GraphCompiler.Tests.Spec
{
    public class ShippedSpecTests
    {
        [Theory]
        [MemberData(nameof(Names))]
        public void Shipped_spec_compiles_without_diagnostics(string name)
        {
            var (parse, model) = GraphCompiler.Compilation.ModelCompiler.Compile(TestSpecs.PathOf(name), TestSpecs.Text(name));
            Assert.Empty(parse.Diagnostics);
            Assert.NotNull(model);
        }

        public static TheoryData<string> Names()
        {
            var data = new TheoryData<string>();
            foreach (var n in TestSpecs.Shipped) data.Add(n);
            return data;
        }
    }
}
