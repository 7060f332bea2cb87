//! 2-D convolution on CUDA through cuDNN, forward and both gradients (cargo feature `cudnn`).
//!
//! candle 0.11's CUDA conv2d materialises a full im2col matrix per call (huge for the 9x9
//! layers), and its own cuDNN path asks cuDNN's heuristics for an
//! algorithm and allocates and zeroes a fresh workspace on every call. Here the algorithm is
//! chosen once per shape, the workspace is kept and only grows, and the backward pass calls
//! cuDNN's backward-data and backward-filter kernels (no kernel gradient for frozen weights).
//! f16 tensors compute in f32 inside cuDNN (PSEUDO_HALF, tensor cores); f32 stays strict f32
//! (no TF32), like candle's cuBLAS default, so results match the CPU path closely.
//!
//! Status: written and compiled without a GPU at hand; `host-train check-device` and the GPU
//! benchmarks must pass on a GPU before this feature is trusted (see BENCHMARKS.md). Its test
//! (against the CPU path) is in `layer.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::cudnn::{
    sys, ConvBackwardData, ConvBackwardFilter, ConvForward, Cudnn, CudnnDataType,
};
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, DeviceRepr};
use candle_core::cuda_backend::{CudaDType, CudaDevice, DeviceId};
use candle_core::{
    CpuStorage, CudaStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, WithDType,
};

use super::params::{ConvParams, GradsWanted};

/// Workspaces above this are refused in favour of an algorithm that needs less (memory is
/// shared with the frames on a Jetson).
const MAX_WORKSPACE: usize = 512 << 20;

/// The convolution, `(n, c, h, w)` * `(o, c, k, k)`, on CUDA tensors.
pub fn conv2d(x: &Tensor, w: &Tensor, params: ConvParams, frozen: bool) -> Result<Tensor> {
    let op = CudnnConv {
        pass: Pass::Forward,
        params,
        frozen,
        other: [0; 4],
    };
    let (xc, wc) = (x.contiguous()?, w.contiguous()?);
    if GradsWanted::of(x, w, frozen).any() {
        xc.apply_op2(&wc, op)
    } else {
        xc.apply_op2_no_bwd(&wc, &op)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pass {
    Forward,
    BackwardData,
    BackwardFilter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PlanKey {
    device: DeviceId,
    pass: Pass,
    dtype: DType,
    x: [usize; 4],
    w: [usize; 4],
    params: (usize, usize),
}

/// A cached algorithm choice, of whichever pass its key names.
#[derive(Clone, Copy, Debug)]
enum Algo {
    Forward(sys::cudnnConvolutionFwdAlgo_t),
    BackwardData(sys::cudnnConvolutionBwdDataAlgo_t),
    BackwardFilter(sys::cudnnConvolutionBwdFilterAlgo_t),
}

/// Plans and launches one pass. The algorithm is cuDNN's heuristic pick on first use of a
/// shape (`fallback` when the pick fails or needs more than [`MAX_WORKSPACE`]) and the cached
/// choice afterwards; `wrap`/`unwrap` move the pass's algorithm type in and out of [`Algo`].
/// cuDNN's heuristics can name an algorithm that its launch then refuses for the shape
/// (pytorch/pytorch#31336): then the fallback runs, and is what the cache keeps.
#[allow(clippy::too_many_arguments)]
fn plan_and_launch<A: Copy + PartialEq + std::fmt::Debug>(
    dev: &CudaDevice,
    key: PlanKey,
    wrap: fn(A) -> Algo,
    unwrap: fn(Algo) -> Option<A>,
    pick: impl FnOnce() -> Result<A>,
    workspace: impl Fn(A) -> Result<usize>,
    fallback: A,
    mut launch: impl FnMut(A, Option<&mut CudaSlice<u8>>) -> Result<()>,
) -> Result<()> {
    let cached = PLANS.with(|m| m.borrow().get(&key).copied());
    let (algo, bytes) = match cached.and_then(|(a, n)| unwrap(a).map(|a| (a, n))) {
        Some(plan) => plan,
        None => {
            let picked = pick().and_then(|a| Ok((a, workspace(a)?)));
            let plan = match picked {
                Ok((a, n)) if n <= MAX_WORKSPACE => (a, n),
                _ => (fallback, workspace(fallback)?),
            };
            PLANS.with(|m| m.borrow_mut().insert(key, (wrap(plan.0), plan.1)));
            plan
        }
    };
    match with_workspace(dev, bytes, |ws| launch(algo, ws)) {
        Err(err) if algo != fallback => {
            eprintln!("cudnn conv2d: {algo:?} refused for {key:?} ({err}); using {fallback:?}");
            let fb_bytes = workspace(fallback)?;
            PLANS.with(|m| m.borrow_mut().insert(key, (wrap(fallback), fb_bytes)));
            with_workspace(dev, fb_bytes, |ws| launch(fallback, ws))
        }
        r => r,
    }
}

thread_local! {
    // cuDNN handles are neither Send nor Sync: one per thread and device, as candle does.
    static HANDLES: RefCell<HashMap<DeviceId, Arc<Cudnn>>> = RefCell::new(HashMap::new());
    // Chosen algorithm and workspace bytes per shape.
    static PLANS: RefCell<HashMap<PlanKey, (Algo, usize)>> = RefCell::new(HashMap::new());
    static WORKSPACES: RefCell<HashMap<DeviceId, CudaSlice<u8>>> = RefCell::new(HashMap::new());
}

fn handle(dev: &CudaDevice) -> Result<Arc<Cudnn>> {
    HANDLES.with(|h| {
        if let Some(c) = h.borrow().get(&dev.id()) {
            return Ok(c.clone());
        }
        let c = Cudnn::new(dev.cuda_stream()).map_err(e)?;
        h.borrow_mut().insert(dev.id(), c.clone());
        Ok(c)
    })
}

/// Runs `f` with a workspace of at least `bytes` on `dev` (None when 0 bytes are needed).
fn with_workspace<R>(
    dev: &CudaDevice,
    bytes: usize,
    f: impl FnOnce(Option<&mut CudaSlice<u8>>) -> Result<R>,
) -> Result<R> {
    if bytes == 0 {
        return f(None);
    }
    WORKSPACES.with(|ws| {
        let mut ws = ws.borrow_mut();
        let too_small = ws.get(&dev.id()).is_none_or(|w| w.len() < bytes);
        if too_small {
            // Grow to the new size once; later calls of any shape reuse it.
            ws.remove(&dev.id());
            let buf = unsafe { dev.cuda_stream().alloc::<u8>(bytes) }.map_err(e)?;
            ws.insert(dev.id(), buf);
        }
        f(ws.get_mut(&dev.id()))
    })
}

/// cudarc's errors as candle's.
fn e<E: std::error::Error + Send + Sync + 'static>(err: E) -> candle_core::Error {
    candle_core::Error::wrap(err)
}

fn dims4(l: &Layout) -> Result<[usize; 4]> {
    let (a, b, c, d) = l.shape().dims4()?;
    Ok([a, b, c, d])
}

fn i32s(d: [usize; 4]) -> [i32; 4] {
    d.map(|v| v as i32)
}

fn slice_of<'a, T: CudaDType>(
    s: &'a CudaStorage,
    l: &Layout,
) -> Result<candle_core::cuda_backend::cudarc::driver::CudaView<'a, T>> {
    if !l.is_contiguous() {
        candle_core::bail!("cudnn conv2d: expected a contiguous tensor");
    }
    let n = l.shape().elem_count();
    Ok(s.as_cuda_slice::<T>()?
        .slice(l.start_offset()..l.start_offset() + n))
}

/// Which of the three passes to run, on which tensors: `a` and `b` are the op's two inputs
/// (forward: x, w; backward-data: dy, w; backward-filter: x, dy), `out` the result's dims.
struct Call<'a> {
    pass: Pass,
    params: ConvParams,
    x: [usize; 4],
    w: [usize; 4],
    a: (&'a CudaStorage, &'a Layout),
    b: (&'a CudaStorage, &'a Layout),
    out: [usize; 4],
}

impl Call<'_> {
    fn run(&self) -> Result<CudaStorage> {
        let dev = self.a.0.device().clone();
        match self.a.0.dtype() {
            DType::F32 => self.run_typed::<f32>(&dev, sys::cudnnMathType_t::CUDNN_FMA_MATH),
            DType::F16 => {
                self.run_typed::<half::f16>(&dev, sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH)
            }
            d => candle_core::bail!("cudnn conv2d: unsupported dtype {d:?} (f32 or f16)"),
        }
    }

    fn run_typed<T>(&self, dev: &CudaDevice, math: sys::cudnnMathType_t) -> Result<CudaStorage>
    where
        T: CudaDType + CudnnDataType + WithDType + DeviceRepr,
    {
        let cudnn = handle(dev)?;
        let p = self.params;
        let pad = p.padding as i32;
        let stride = p.stride as i32;
        // PSEUDO_HALF for f16: accumulate in f32.
        let mut conv = cudnn
            .create_conv2d::<f32>(
                [pad, pad],
                [stride, stride],
                [1, 1],
                sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
            )
            .map_err(e)?;
        conv.set_math_type(math).map_err(e)?;
        let nchw = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
        let y_dims = p.out_dims(self.x, self.w)?;
        let xd = cudnn.create_4d_tensor::<T>(nchw, i32s(self.x)).map_err(e)?;
        let wd = cudnn.create_4d_filter::<T>(nchw, i32s(self.w)).map_err(e)?;
        let yd = cudnn.create_4d_tensor::<T>(nchw, i32s(y_dims)).map_err(e)?;
        let key = PlanKey {
            device: dev.id(),
            pass: self.pass,
            dtype: T::DTYPE,
            x: self.x,
            w: self.w,
            params: (p.stride, p.padding),
        };
        let n_out: usize = self.out.iter().product();
        let mut out = unsafe { dev.cuda_stream().alloc::<T>(n_out) }.map_err(e)?;
        let (a, b) = (
            slice_of::<T>(self.a.0, self.a.1)?,
            slice_of::<T>(self.b.0, self.b.1)?,
        );
        // alpha = 1, beta = 0 (cuDNN reads them as f32 for f16 data).
        let scale = (T::from_f64(1.0), T::from_f64(0.0));
        match self.pass {
            Pass::Forward => {
                use sys::cudnnConvolutionFwdAlgo_t as A;
                let op = ConvForward {
                    conv: &conv,
                    x: &xd,
                    w: &wd,
                    y: &yd,
                };
                plan_and_launch(
                    dev,
                    key,
                    Algo::Forward,
                    |a| match a {
                        Algo::Forward(a) => Some(a),
                        _ => None,
                    },
                    || op.pick_algorithm().map_err(e),
                    |a| op.get_workspace_size(a).map_err(e),
                    A::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                    |algo, ws| unsafe { op.launch(algo, ws, scale, &a, &b, &mut out).map_err(e) },
                )?;
            }
            Pass::BackwardData => {
                use sys::cudnnConvolutionBwdDataAlgo_t as A;
                let op = ConvBackwardData {
                    conv: &conv,
                    dx: &xd,
                    w: &wd,
                    dy: &yd,
                };
                // a = dy, b = w
                plan_and_launch(
                    dev,
                    key,
                    Algo::BackwardData,
                    |a| match a {
                        Algo::BackwardData(a) => Some(a),
                        _ => None,
                    },
                    || op.pick_algorithm().map_err(e),
                    |a| op.get_workspace_size(a).map_err(e),
                    A::CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
                    |algo, ws| unsafe { op.launch(algo, ws, scale, &mut out, &b, &a).map_err(e) },
                )?;
            }
            Pass::BackwardFilter => {
                use sys::cudnnConvolutionBwdFilterAlgo_t as A;
                let op = ConvBackwardFilter {
                    conv: &conv,
                    x: &xd,
                    dw: &wd,
                    dy: &yd,
                };
                // a = x, b = dy
                plan_and_launch(
                    dev,
                    key,
                    Algo::BackwardFilter,
                    |a| match a {
                        Algo::BackwardFilter(a) => Some(a),
                        _ => None,
                    },
                    || op.pick_algorithm().map_err(e),
                    |a| op.get_workspace_size(a).map_err(e),
                    A::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
                    |algo, ws| unsafe { op.launch(algo, ws, scale, &a, &mut out, &b).map_err(e) },
                )?;
            }
        }
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    }
}

/// One pass of the convolution as a custom op. Forward: inputs `(x, w)`, output `y`, and a
/// backward through the other two passes. BackwardData: inputs `(dy, w)`, output `dx` of
/// dims `other`. BackwardFilter: inputs `(x, dy)`, output `dw` of dims `other`. The
/// gradient passes are applied without a backward of their own.
struct CudnnConv {
    pass: Pass,
    params: ConvParams,
    frozen: bool,
    /// The output's dims for the gradient passes (unused by the forward pass).
    other: [usize; 4],
}

impl CustomOp2 for CudnnConv {
    fn name(&self) -> &'static str {
        match self.pass {
            Pass::Forward => "cudnn-conv2d",
            Pass::BackwardData => "cudnn-conv2d-backward-data",
            Pass::BackwardFilter => "cudnn-conv2d-backward-filter",
        }
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!(
            "{}: a cuDNN op was given CPU tensors (it runs on CUDA only)",
            self.name()
        )
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let (x, w, out) = match self.pass {
            Pass::Forward => {
                let (x, w) = (dims4(l1)?, dims4(l2)?);
                (x, w, self.params.out_dims(x, w)?)
            }
            Pass::BackwardData | Pass::BackwardFilter => {
                let (x, w, dy) = match self.pass {
                    Pass::BackwardData => (self.other, dims4(l2)?, dims4(l1)?),
                    _ => (dims4(l1)?, self.other, dims4(l2)?),
                };
                // The dy descriptor is built from x and w: a gradient of another shape would
                // be read out of bounds.
                if dy != self.params.out_dims(x, w)? {
                    candle_core::bail!(
                        "cudnn conv2d backward: gradient {dy:?} is not the output of x {x:?} by w {w:?}"
                    );
                }
                (x, w, self.other)
            }
        };
        let st = Call {
            pass: self.pass,
            params: self.params,
            x,
            w,
            a: (s1, l1),
            b: (s2, l2),
            out,
        }
        .run()?;
        Ok((st, Shape::from(out.to_vec())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let wanted = GradsWanted::of(x, w, self.frozen);
        let pass = |pass, other: &Tensor| -> Result<Self> {
            Ok(Self {
                pass,
                params: self.params,
                frozen: self.frozen,
                other: dims4(other.layout())?,
            })
        };
        let dx = if wanted.input {
            let op = pass(Pass::BackwardData, x)?;
            Some(g.apply_op2_no_bwd(&w.detach().contiguous()?, &op)?)
        } else {
            None
        };
        let dw = if wanted.kernel {
            let op = pass(Pass::BackwardFilter, w)?;
            Some(x.detach().contiguous()?.apply_op2_no_bwd(&g, &op)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}
