//! Link-time stand-ins for candle-kernels' 49 `extern "C"` GGUF/MoE launchers.
//!
//! candle-kernels 0.11 builds its quantized (GGUF mmvq/mmq) and MoE kernels into a static
//! `libmoe.a` (tens of MB of sm_90a code). Any object of candle-core/candle-nn that mentions
//! one of these launchers makes the linker pull the whole fatbin into the binary (about three
//! times the size, stripped; BENCHMARKS.md). Defining every launcher here means the symbols are already
//! resolved when `libmoe.a` is scanned, so nothing is taken from it. rustc references
//! `#[no_mangle]` items of upstream rlibs from the executable (its synthetic `symbols.o`), so
//! this works from the `stylecast` library.
//!
//! Only the names matter to the linker, so each stand-in is a parameterless `extern "C"` fn
//! (a C caller's arguments are ignored; the caller cleans up on the ABIs we build for). The
//! list mirrors `candle-kernels-0.11.1/src/ffi.rs` (the `cutile`-only
//! `candle_launch_moe_align` is not built by default and is not defined here). Compiled only
//! with the `cuda` feature.
//!
//! Consequence: candle's quantized (`QMatMul` on CUDA) and MoE ops are unusable in these
//! binaries; this project uses neither. Calling one prints a message and aborts.
//!
//! If candle-kernels is upgraded, regenerate the list from its `src/ffi.rs`; a missing name
//! brings libmoe.a back (large binary), a name that libmoe.a defines but that is also pulled
//! from it for another reason gives a duplicate-symbol link error.

#[cold]
#[inline(never)]
fn unused(name: &str) -> ! {
    eprintln!(
        "stylecast: candle-kernels launcher `{name}` (quantized/MoE CUDA op) was called, \
         but this binary is built without candle's GGUF/MoE kernels \
         (see shared/src/cuda_link_stubs.rs); aborting"
    );
    std::process::abort()
}

/// One `#[no_mangle]` stand-in per name.
macro_rules! link_stubs {
    ($($name:ident,)*) => {$(
        #[no_mangle]
        #[allow(non_snake_case)]
        pub extern "C" fn $name() {
            unused(stringify!($name))
        }
    )*};
}

link_stubs! {
    // MoE GEMMs
    moe_gemm_wmma,
    moe_gemm_gguf,
    moe_gemm_gguf_prefill,
    // GGUF matrix-vector products (mmvq), per quantisation and activation dtype
    launch_mmvq_gguf_q4_0_bf16_plain,
    launch_mmvq_gguf_q4_1_bf16_plain,
    launch_mmvq_gguf_q5_0_bf16_plain,
    launch_mmvq_gguf_q5_1_bf16_plain,
    launch_mmvq_gguf_q8_0_bf16_plain,
    launch_mmvq_gguf_q2_k_bf16_plain,
    launch_mmvq_gguf_q3_k_bf16_plain,
    launch_mmvq_gguf_q4_k_bf16_plain,
    launch_mmvq_gguf_q5_k_bf16_plain,
    launch_mmvq_gguf_q6_k_bf16_plain,
    launch_mmvq_gguf_q4_0_f32_plain,
    launch_mmvq_gguf_q4_1_f32_plain,
    launch_mmvq_gguf_q5_0_f32_plain,
    launch_mmvq_gguf_q5_1_f32_plain,
    launch_mmvq_gguf_q8_0_f32_plain,
    launch_mmvq_gguf_q2_k_f32_plain,
    launch_mmvq_gguf_q3_k_f32_plain,
    launch_mmvq_gguf_q4_k_f32_plain,
    launch_mmvq_gguf_q5_k_f32_plain,
    launch_mmvq_gguf_q6_k_f32_plain,
    launch_mmvq_gguf_q4_0_f16_plain,
    launch_mmvq_gguf_q4_1_f16_plain,
    launch_mmvq_gguf_q5_0_f16_plain,
    launch_mmvq_gguf_q5_1_f16_plain,
    launch_mmvq_gguf_q8_0_f16_plain,
    launch_mmvq_gguf_q2_k_f16_plain,
    launch_mmvq_gguf_q3_k_f16_plain,
    launch_mmvq_gguf_q4_k_f16_plain,
    launch_mmvq_gguf_q5_k_f16_plain,
    launch_mmvq_gguf_q6_k_f16_plain,
    // activation quantisation for mmvq and mmq
    launch_mmvq_gguf_quantize_q8_1_bf16,
    launch_mmvq_gguf_quantize_q8_1_f16,
    launch_mmvq_gguf_quantize_q8_1_f32,
    launch_mmq_quantize_q8_1_D4,
    launch_mmq_quantize_q8_1_DS4,
    launch_mmq_quantize_q8_1_D2S6,
    // GGUF matrix-matrix products (mmq)
    launch_mmq_gguf_q4_0,
    launch_mmq_gguf_q4_1,
    launch_mmq_gguf_q5_0,
    launch_mmq_gguf_q5_1,
    launch_mmq_gguf_q8_0,
    launch_mmq_gguf_q2_k,
    launch_mmq_gguf_q3_k,
    launch_mmq_gguf_q4_k,
    launch_mmq_gguf_q5_k,
    launch_mmq_gguf_q6_k,
}
