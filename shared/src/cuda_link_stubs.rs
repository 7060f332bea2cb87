//! Link-time stand-ins for candle-kernels' 49 `extern "C"` GGUF/MoE launchers.
//!
//! candle-kernels 0.11 builds its quantized (GGUF mmvq/mmq) and MoE kernels into a
//! static `libmoe.a` (~33 MB of sm_90a code). Any object of candle-core/candle-nn that
//! mentions one of these launchers makes the linker pull the whole fatbin into the
//! binary (~50 MB stripped instead of ~16 MB). Defining every launcher here means the
//! symbols are already resolved when `libmoe.a` is scanned, so nothing is taken from
//! it. rustc references `#[no_mangle]` items of upstream rlibs from the executable
//! (its synthetic `symbols.o`), so this works from the `stylecast` library.
//!
//! Consequence: candle's quantized (`QMatMul` on CUDA) and MoE ops are unusable in
//! these binaries; this project uses neither. Calling one prints a message and aborts.
//!
//! Signatures mirror `candle-kernels-0.11.1/src/ffi.rs` (the linker only matches
//! names; the `cutile`-only `candle_launch_moe_align` is not built by default and is
//! not defined here). Compiled only with the `cuda` feature
//! (`#[cfg(feature = "cuda")] mod cuda_link_stubs;` in lib.rs).
//!
//! If candle-kernels is upgraded, regenerate the list from its `src/ffi.rs`; a missing
//! name brings libmoe.a back (large binary), a name that libmoe.a defines but that is
//! also pulled from it for another reason gives a duplicate-symbol link error.
#![allow(clippy::too_many_arguments)]

use core::ffi::c_void;

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

#[no_mangle]
pub extern "C" fn moe_gemm_wmma(
    _input: *const c_void,
    _weights: *const c_void,
    _sorted_token_ids: *const i32,
    _expert_ids: *const i32,
    _topk_weights: *const f32,
    _output: *mut c_void,
    _expert_counts: *mut i32,
    _expert_offsets: *mut i32,
    _num_experts: i32,
    _topk: i32,
    _size_m: i32,
    _size_n: i32,
    _size_k: i32,
    _dtype: i32,
    _is_prefill: bool,
    _stream: i64,
) {
    unused("moe_gemm_wmma")
}

#[no_mangle]
pub extern "C" fn moe_gemm_gguf(
    _input: *const f32,
    _weights: *const c_void,
    _sorted_token_ids: *const i32,
    _expert_ids: *const i32,
    _topk_weights: *const f32,
    _output: *mut c_void,
    _num_experts: i32,
    _topk: i32,
    _size_m: i32,
    _size_n: i32,
    _size_k: i32,
    _gguf_dtype: i32,
    _stream: i64,
) {
    unused("moe_gemm_gguf")
}

#[no_mangle]
pub extern "C" fn moe_gemm_gguf_prefill(
    _input: *const c_void,
    _weights: *const u8,
    _sorted_token_ids: *const i32,
    _expert_ids: *const i32,
    _topk_weights: *const f32,
    _output: *mut c_void,
    _num_experts: i32,
    _topk: i32,
    _size_m: i32,
    _size_n: i32,
    _size_k: i32,
    _input_dtype: i32,
    _gguf_dtype: i32,
    _stream: i64,
) {
    unused("moe_gemm_gguf_prefill")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_0_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_0_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_1_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_1_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_0_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_0_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_1_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_1_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q8_0_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q8_0_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q2_k_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q2_k_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q3_k_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q3_k_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_k_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_k_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_k_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_k_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q6_k_bf16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q6_k_bf16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_0_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_0_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_1_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_1_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_0_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_0_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_1_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_1_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q8_0_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q8_0_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q2_k_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q2_k_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q3_k_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q3_k_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_k_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_k_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_k_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_k_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q6_k_f32_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q6_k_f32_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_0_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_0_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_1_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_1_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_0_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_0_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_1_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_1_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q8_0_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q8_0_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q2_k_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q2_k_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q3_k_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q3_k_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q4_k_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q4_k_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q5_k_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q5_k_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_q6_k_f16_plain(
    _vx: *const c_void,
    _vy: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i32,
    _nrows_x: i32,
    _stride_col_y: i32,
    _stride_col_dst: i32,
    _b_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_q6_k_f16_plain")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_quantize_q8_1_bf16(
    _x: *const c_void,
    _vy: *mut c_void,
    _kx: i32,
    _kx_padded: i32,
    _num_rows: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_quantize_q8_1_bf16")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_quantize_q8_1_f16(
    _x: *const c_void,
    _vy: *mut c_void,
    _kx: i32,
    _kx_padded: i32,
    _num_rows: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_quantize_q8_1_f16")
}

#[no_mangle]
pub extern "C" fn launch_mmvq_gguf_quantize_q8_1_f32(
    _x: *const c_void,
    _vy: *mut c_void,
    _kx: i32,
    _kx_padded: i32,
    _num_rows: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmvq_gguf_quantize_q8_1_f32")
}

#[no_mangle]
pub extern "C" fn launch_mmq_quantize_q8_1_D4(
    _x: *const c_void,
    _ids: *const i32,
    _vy: *mut c_void,
    _type_x: i32,
    _ne00: i64,
    _s01: i64,
    _s02: i64,
    _s03: i64,
    _ne0: i64,
    _ne1: i64,
    _ne2: i64,
    _ne3: i64,
    _stream: *mut c_void,
) {
    unused("launch_mmq_quantize_q8_1_D4")
}

#[no_mangle]
pub extern "C" fn launch_mmq_quantize_q8_1_DS4(
    _x: *const c_void,
    _ids: *const i32,
    _vy: *mut c_void,
    _type_x: i32,
    _ne00: i64,
    _s01: i64,
    _s02: i64,
    _s03: i64,
    _ne0: i64,
    _ne1: i64,
    _ne2: i64,
    _ne3: i64,
    _stream: *mut c_void,
) {
    unused("launch_mmq_quantize_q8_1_DS4")
}

#[no_mangle]
pub extern "C" fn launch_mmq_quantize_q8_1_D2S6(
    _x: *const c_void,
    _ids: *const i32,
    _vy: *mut c_void,
    _type_x: i32,
    _ne00: i64,
    _s01: i64,
    _s02: i64,
    _s03: i64,
    _ne0: i64,
    _ne1: i64,
    _ne2: i64,
    _ne3: i64,
    _stream: *mut c_void,
) {
    unused("launch_mmq_quantize_q8_1_D2S6")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q4_0(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q4_0")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q4_1(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q4_1")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q5_0(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q5_0")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q5_1(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q5_1")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q8_0(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q8_0")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q2_k(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q2_k")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q3_k(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q3_k")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q4_k(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q4_k")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q5_k(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q5_k")
}

#[no_mangle]
pub extern "C" fn launch_mmq_gguf_q6_k(
    _tmp_fixup: *mut c_void,
    _x: *const c_void,
    _y: *const c_void,
    _dst: *mut c_void,
    _ncols_x: i64,
    _nrows_x: i64,
    _ncols_y: i64,
    _stride_row_x: i64,
    _stride_col_dst: i64,
    _cc: i32,
    _nsm: i32,
    _smpbo: i64,
    _warp_size: i32,
    _stream: *mut c_void,
) {
    unused("launch_mmq_gguf_q6_k")
}
