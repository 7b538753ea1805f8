using System.Globalization;

namespace GraphCompiler.Spec
{
    public enum QuantMethod { Fp16, Bf16, Fp8E4M3, Int4 }

    public enum Int4Format { Gptq, Awq }

    public enum ScaleGranularity { PerTensor, PerChannel }

    /// <summary>How FP8 activations are scaled: not at all (W8A16), per token at run time, or by a checkpoint's input_scale.</summary>
    public enum ActivationScaling { None, Dynamic, Static }

    /// <summary>
    /// One weight quantization scheme. Fields that do not apply to the method keep their defaults, so two specs that
    /// mean the same scheme compare equal (kernels are emitted once per distinct scheme and shape).
    /// </summary>
    public sealed record QuantScheme(
        QuantMethod Method,
        Int4Format Format = Int4Format.Gptq,
        int GroupSize = 0,
        bool Symmetric = false,
        bool DescAct = false,
        ScaleGranularity WeightScale = ScaleGranularity.PerChannel,
        ActivationScaling ActivationScale = ActivationScaling.None)
    {
        public static readonly QuantScheme Fp16 = new QuantScheme(QuantMethod.Fp16);
        public static readonly QuantScheme Bf16 = new QuantScheme(QuantMethod.Bf16);

        public bool IsDense => Method is QuantMethod.Fp16 or QuantMethod.Bf16;

        /// <summary>Input features per scale group for INT4; -1 in the spec (one group per column) is stored as K here.</summary>
        public int GroupSizeFor(int k) => GroupSize == -1 ? k : GroupSize;

        /// <summary>Short human description, as the plan table prints it.</summary>
        public string Describe() => Method switch
        {
            QuantMethod.Fp16 => "fp16",
            QuantMethod.Bf16 => "bf16",
            QuantMethod.Fp8E4M3 => "fp8_e4m3 " + (WeightScale == ScaleGranularity.PerChannel ? "per-channel" : "per-tensor")
                + (ActivationScale == ActivationScaling.None ? " W8A16" : ActivationScale == ActivationScaling.Dynamic ? " W8A8 dynamic" : " W8A8 static"),
            _ => "int4 " + (Format == Int4Format.Gptq ? "gptq" : "awq") + " g"
                + (GroupSize == -1 ? "channel" : GroupSize.ToString(CultureInfo.InvariantCulture))
                + (Symmetric ? " sym" : " asym") + (DescAct ? " act-order" : ""),
        };

        /// <summary>A C identifier fragment naming the scheme, used in kernel names.</summary>
        public string Tag() => Method switch
        {
            QuantMethod.Fp16 => "f16",
            QuantMethod.Bf16 => "bf16",
            QuantMethod.Fp8E4M3 => "e4m3_" + (WeightScale == ScaleGranularity.PerChannel ? "pc" : "pt")
                + (ActivationScale == ActivationScaling.None ? "_w8a16" : ActivationScale == ActivationScaling.Dynamic ? "_w8a8d" : "_w8a8s"),
            _ => (Format == Int4Format.Gptq ? "gptq" : "awq") + "_g"
                + (GroupSize == -1 ? "ch" : GroupSize.ToString(CultureInfo.InvariantCulture))
                + (Symmetric ? "_sym" : "_asym") + (DescAct ? "_actorder" : ""),
        };
    }
}
