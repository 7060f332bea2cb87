# Source this on the GPU machine before running binaries built by scripts/build-cuda.sh:
#
#   . scripts/gpu-env.sh            (or: source gpu-env.sh, wherever it was carried)
#
# The binaries need libcuda.so.1 (driver, /usr/local/nvidia/lib64), libcublas.so.13,
# libcublasLt.so.13, libcurand.so.10, libnvrtc.so.13 (and libcudnn.so.9 with the cudnn
# feature). There is no CUDA toolkit there; the libraries come from the nvidia-* wheels
# of the PyTorch venv (override its location with TORCH_VENV).
# Meant to be sourced, so no `set -e` / `exit` here.

_gpu_env_venv="${TORCH_VENV:-/opt/torch/.venv}"
_gpu_env_sp="$(echo "$_gpu_env_venv"/lib/python3*/site-packages)"
_gpu_env_libs="$(ls -d "$_gpu_env_sp"/nvidia/*/lib 2>/dev/null | paste -sd: -)"
if [ -z "$_gpu_env_libs" ]; then
  echo "gpu-env.sh: no nvidia/*/lib under $_gpu_env_sp (set TORCH_VENV?)" >&2
fi
export LD_LIBRARY_PATH="${_gpu_env_libs:+$_gpu_env_libs:}/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _gpu_env_venv _gpu_env_sp _gpu_env_libs
