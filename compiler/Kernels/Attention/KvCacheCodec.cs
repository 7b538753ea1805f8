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

        /// <param name="withReads">Also emit load_row8 and as_cached (the value the cache holds for x once written and read back).</param>
        public static string Rows(bool fp8, CudaType cache, bool withReads)
        {
            if (!fp8)
                return @"// ---- Cache rows: eight elements per lane, one 16-byte vector ----
" + (withReads ? @"__device__ __forceinline__ void load_row8(const gc_cache* p, float scale, float v[8]) {
    const gc_act8 x = *reinterpret_cast<const gc_act8*>(p);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = gc_act_to_f32(x.v[e]);
}
" : "") + @"__device__ __forceinline__ void store_row8(gc_cache* p, float scale, const float v[8]) {
    gc_act8 x;
#pragma unroll
    for (int e = 0; e < 8; ++e) x.v[e] = gc_f32_to_act(v[e]);
    *reinterpret_cast<gc_act8*>(p) = x;
}
" + (withReads ? @"// The value the cache holds for x: the activation itself.
__device__ __forceinline__ float as_cached(float x, float scale) { return x; }
" : "") + "\n";
            return $@"// ---- FP8 cache rows: eight codes per lane, one 8-byte word, decoded and scaled; written as code = {cache.FromFloat}(x / scale) ----
" + (withReads ? $@"__device__ __forceinline__ void load_row8(const gc_cache* p, float scale, float v[8]) {{
    const unsigned long long codes = *reinterpret_cast<const unsigned long long*>(p);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = {cache.ToFloat}((gc_cache)(codes >> (8 * e))) * scale;
}}
" : "") + $@"__device__ __forceinline__ void store_row8(gc_cache* p, float scale, const float v[8]) {{
    unsigned long long codes = 0;
#pragma unroll
    for (int e = 0; e < 8; ++e) codes |= (unsigned long long){cache.FromFloat}(v[e] / scale) << (8 * e);
    *reinterpret_cast<unsigned long long*>(p) = codes;
}}
" + (withReads ? $@"// The value the cache holds for x once written and read back.
__device__ __forceinline__ float as_cached(float x, float scale) {{ return {cache.ToFloat}({cache.FromFloat}(x / scale)) * scale; }}
" : "") + "\n";
        }
    }
}
