#!/usr/bin/env bash
# Issues 5 and 30's GPU checks as one short run on a lent GPU machine (the `device` tool's `run`).
#
# 1. Here, once per session (pip reaches PyPI here; nothing can be reached from there):
#        bash benchmarks/gpu_check.sh --prepare [--python 3.12]
#    downloads, for the GPU image's Python (3.12), the wheels that image lacks (cvxpy and its
#    solvers, cvxpylayers, diffcp; 33 MB) into .whl/ and git-ignores it (.git/info/exclude).
#    The UCI data need nothing: they ship inside the package (torch_lipcvx/datasets).
# 2. There:
#        run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
#    installs the wheels into /tmp/site (torch, lightning, torchmetrics, numpy and scipy are the
#    image's own; the package itself is read from the checkout, so the CPU pin torch==2.13.0 is
#    not installed there), then runs these steps, each under its own time limit, with logs and
#    JSONs under $OUT:
#      a. the CUDA tests (pytest -k cuda: the device-parametrised tests and the CUDA-only ones);
#      b. bench_solvers.py --device cuda on wine: LipSDP (plain-free: Clarabel vs auto) and
#         Algorithm 1 by solver="auto" on the GPU from the committed start network, so its J
#         compares with the CPU's 0.2172040259 after 21 steps (README, Performance); step
#         compare_J (benchmarks/gpu_compare.py) checks it against that and against plain SCS at
#         eps 1e-8, within 1e-4;
#      c. issue 30: bench_scale.py --case n9000 (one (12) step, dense vs matrix-free, n = 9000,
#         m = 1000) and --case mnist (d = 784, matrix-free) on the GPU, and
#         bench_newton_rule.py --device cuda (the dense/matrix-free crossover on the GPU, from
#         which newton_cg.DENSE_MAX_N_CUDA is refitted).
#    A step that fails does not stop the others; the exit status is the number of failed steps.
# --allow-cpu runs step 2 without a GPU (b and c on the CPU, short sizes): a dry run of this
# script itself, e.g. `bash benchmarks/gpu_check.sh --prepare --python 3.11 && OUT=/tmp/out bash
# benchmarks/gpu_check.sh --allow-cpu` on a CPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=3.12
MODE=check
DEVICE=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --prepare) MODE=prepare ;;
        --python) PY_VERSION="$2"; shift ;;
        --allow-cpu) DEVICE=cpu ;;
        *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

# the versions this project is tested with on the CPU (pip list there), except scs: its 3.3
# wheel is 43 MB, 3.2.7 is 10 MB and satisfies cvxpy (>= 3.2.4.post1) and us (>= 3.2)
WHEELS="cvxpy==1.9.3 cvxpylayers==1.2.0 diffcp==1.1.9 scs==3.2.7.post2 clarabel==0.11.1
osqp==1.1.3 highspy==1.16.0 qdldl==0.1.9.post1 sparsediffpy==0.6.1 cffi==2.1.1 pycparser==3.12"

if [ "$MODE" = prepare ]; then
    set -e
    grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    rm -rf .whl
    mkdir -p .whl
    tag="cp${PY_VERSION/./}"
    for w in $WHEELS; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
            --implementation cp --abi "$tag" --abi abi3 --abi none \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
            --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform any -d .whl "$w" 2>&1 | grep -v '^WARNING' || true
    done
    echo "prepared: $(ls .whl | wc -l) wheels ($(du -sh .whl | cut -f1)) in .whl"
    echo "now: run(command=\"bash benchmarks/gpu_check.sh\", carry=[\".whl\"], timeout_s=600)"
    exit 0
fi

OUT="${OUT:-/tmp/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "gpu_check.sh: installing .whl failed"; exit 1; }
    export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

{
    date -u
    nvidia-smi 2>&1 | head -15
    python3 - <<'EOF'
import torch, numpy, scipy, cvxpy, scs, clarabel, lightning, torchmetrics
import torch_lipcvx
print("python", __import__("sys").version.split()[0], "torch", torch.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print("numpy", numpy.__version__, "scipy", scipy.__version__, "cvxpy", cvxpy.__version__,
      "scs", scs.__version__, "clarabel", clarabel.__version__, "lightning", lightning.__version__,
      "torchmetrics", torchmetrics.__version__, "torch_lipcvx", torch_lipcvx.__file__)
EOF
} 2>&1 | tee "$OUT/env.txt"
if [ "$DEVICE" = cuda ] && ! python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check.sh: no CUDA device here (use --allow-cpu for a dry run)"; exit 1
fi

failed=0
step() {   # step NAME SECONDS COMMAND...: run under a time limit, log to $OUT/NAME.log
    local name="$1" limit="$2"; shift 2
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -25 "$OUT/$name.log"
    echo "== $name: rc=$rc after $((SECONDS - start))s"
    [ $rc -eq 0 ] || failed=$((failed + 1))
}

if [ "$DEVICE" = cuda ]; then QUICK=""; else QUICK="--quick"; fi
step cuda_tests 90 python3 -m pytest -q -p no:cacheprovider -k cuda tests
# issue 30: the matrix-free interior point on the GPU (one (12) step at n = 9000, m = 1000,
# dense vs matrix-free; the MNIST shape, matrix-free) and the dense/matrix-free crossover on the
# GPU that newton_cg.DENSE_MAX_N_CUDA should be refitted from
if [ -z "$QUICK" ]; then
    # each solve stops at its --time-limit with its gap (status time_limit), so the JSON is
    # written inside the step's own limit
    step scale_n9000 150 python3 benchmarks/bench_scale.py --case n9000 --newton dense cg \
        --device cuda --time-limit 45 --out "$OUT/bench_scale_n9000_cuda.json"
    step scale_mnist 100 python3 benchmarks/bench_scale.py --case mnist --device cuda \
        --time-limit 40 --out "$OUT/bench_scale_mnist_cuda.json"
else
    step scale_quick 60 python3 benchmarks/bench_scale.py --quick --device cpu \
        --out "$OUT/bench_scale_quick.json"
fi
step newton_rule 80 python3 benchmarks/bench_newton_rule.py --device "$DEVICE" $QUICK \
    --out "$OUT/bench_newton_rule_$DEVICE.json"
step bench_wine 150 python3 benchmarks/bench_solvers.py --device "$DEVICE" --datasets wine \
    --sections lipsdp algorithm --skip-clarabel --max-iter 100 --verbose \
    --out "$OUT/bench_solvers_wine_$DEVICE.json"
step compare_J 20 python3 benchmarks/gpu_compare.py "$OUT/bench_solvers_wine_$DEVICE.json"
echo "gpu_check.sh: $failed step(s) failed; logs and JSONs in $OUT"
exit "$failed"
