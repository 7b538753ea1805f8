namespace GraphCompiler.Kernels.Attention
{
    /// <summary>
    /// How attention kernels move eight elements of a cache row between fp32 registers and the paged pool: fp16/bf16
    /// caches as one 16-byte vector, FP8 caches as one 8-byte word of codes, code = encode(x / scale) on the way in and
    /// decode(code) · scale on the way out. The including kernel defines gc_cache.
    /// </summary>
    internal static class KvCacheCodec
    {
        /// <summary>The pool and its addressing, parameters every attention kernel declares in this order.</summary>
        public static CudaSourceBuilder PoolParameters(this CudaSourceBuilder b) => b
            .Parameter("gc_cache* __restrict__", "kv_pool", "this layer's KV pool [blocks][K, V][kv head][block_size][head_dim]")
            .Parameter("const int* __restrict__", "block_tables", "block table per sequence [S, max_blocks]")
            .Parameter("int", "max_blocks", "block table row length");

        /// <param name="withCodes">Also emit as_code: what the tensor cores read for x once it is cached (the activation
        /// itself, or an FP8 code's value, unscaled: the kernel applies the scale).</param>
        public static string Rows(bool fp8, CudaType cache, bool withCodes)
        {
            if (!fp8)
                return @"// ---- Cache rows: eight elements per lane, one 16-byte vector ----
__device__ __forceinline__ void store_row8(gc_cache* p, float scale, const float v[8]) {
    gc_act8 x;
#pragma unroll
    for (int e = 0; e < 8; ++e) x.v[e] = gc_f32_to_act(v[e]);
    *reinterpret_cast<gc_act8*>(p) = x;
}
" + (withCodes ? @"// What the tensor cores read for x once cached: x in the activation dtype.
__device__ __forceinline__ float as_code(float x, float scale) { return gc_act_to_f32(gc_f32_to_act(x)); }
" : "") + "\n";
            return $@"// ---- FP8 cache rows: eight codes per lane, one 8-byte word, decoded and scaled; written as code = {cache.FromFloat}(x / scale) ----
__device__ __forceinline__ void store_row8(gc_cache* p, float scale, const float v[8]) {{
    unsigned long long codes = 0;
#pragma unroll
    for (int e = 0; e < 8; ++e) codes |= (unsigned long long){cache.FromFloat}(v[e] / scale) << (8 * e);
    *reinterpret_cast<unsigned long long*>(p) = codes;
}}
" + (withCodes ? $@"// What the tensor cores read for x once cached: its code's value, unscaled.
__device__ __forceinline__ float as_code(float x, float scale) {{ return {cache.ToFloat}({cache.FromFloat}(x / scale)); }}
" : "") + "\n";
        }
    }
}
