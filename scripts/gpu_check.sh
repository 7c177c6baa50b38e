#!/usr/bin/env bash
# One prepared GPU check for a lent H100/H200 (about 8 minutes): every result goes under $OUT.
#
#   OUT=/some/dir scripts/gpu_check.sh            # on the GPU machine
#   scripts/gpu_check.sh --dry-run --out /tmp/gc  # every stage on the CPU with tiny sizes (CI, tests)
#   GPU_CHECK_DRY_RUN=1 OUT=/tmp/gc scripts/gpu_check.sh
#
# Stages (each with its own timeout, so one failure or hang does not eat the budget; the
# script always goes on and exits 1 if any stage failed):
#   env        nvidia-smi, torch/CUDA versions, TF32 defaults
#   tests      the CUDA tests: every test with "cuda" in its name or module (pytest -k cuda)
#   bench      bench-speed rows: fp32 eager (PyTorch's TF32 default, recorded), bf16, for SwinIR-S/M,
#              Swin2SR-S and HAT-S / DAT-light when those presets exist; 256x256, batch 1 and 8,
#              achieved TFLOP/s vs the chip's peak (--flops); the reference too if a reference dir is given
#   bench_tf32 the same fp32 eager rows with TF32 allowed
#   train_step a training-step row (SwinIR-S x4, batch 8, 64x64 LR, L1 + Adam; + reference)
#   tiled      the default x4 model on a 3840x2160 image (streamed output): seconds, peak GPU memory, peak RSS
#   train      a short run of the default model's option file, then continued with --auto_resume
#   compiled   torch.compile rows (SwinIR-S, SwinIR-M; compilation is the slow part, so it runs last)
# The whole run keeps within GPU_CHECK_BUDGET_S (default 470 s on a GPU): a stage gets at most
# what is left, and stages are skipped (and reported) once it is spent.
# Files: $OUT/summary.tsv (stage, status, rc, seconds), $OUT/<stage>.log, $OUT/<stage>.json.
#
# Environment: OUT (output folder), GPU_CHECK_DRY_RUN=1 (as --dry-run), SWINSR_REFERENCE_DIR
# (a folder with the reference network_swinir.py, see README "Speed"), SWINSR_SHARED (data).
set -uo pipefail

DRY_RUN="${GPU_CHECK_DRY_RUN:-0}"
OUT_DIR="${OUT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) shift; OUT_DIR="${1:-}" ;;
    --out=*) OUT_DIR="${1#--out=}" ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (use --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT_DIR" ]; then
  echo "gpu_check.sh: set OUT or pass --out DIR (where every result is written)" >&2
  exit 2
fi
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
cd "$(dirname "$0")/.." || exit 2
REPO="$(pwd)"
PY="${PYTHON:-python}"
# the checkout itself, installed or not (a device machine may only have a copy of the tree)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SWINSR=("$PY" -m swinsr)
# the whole run stays within BUDGET_S: each stage gets at most what is left (GPU loans are short)
BUDGET_S="${GPU_CHECK_BUDGET_S:-}"
T0=$(date +%s)

if [ "$DRY_RUN" = "1" ]; then
  DEVICE=cpu; SIZE=16; BATCHES=1,2; ROUNDS=1; TRAIN_BATCH=2; TILED_W=96; TILED_H=64
  ITERS_A=2; ITERS_B=4; GT=64; T_SHORT=120; T_LONG=240; T_COMPILE=120; BUDGET_S="${BUDGET_S:-1800}"
else
  DEVICE=cuda; SIZE=256; BATCHES=1,8; ROUNDS=5; TRAIN_BATCH=8; TILED_W=3840; TILED_H=2160
  ITERS_A=60; ITERS_B=100; GT=128; T_SHORT=60; T_LONG=120; T_COMPILE=180; BUDGET_S="${BUDGET_S:-470}"
fi
SUMMARY="$OUT_DIR/summary.tsv"
printf 'stage\tstatus\trc\tseconds\n' > "$SUMMARY"
FAILED=0

# stage NAME TIMEOUT_S COMMAND...: run with a timeout (at most the budget left), log to
# $OUT/NAME.log, record the outcome; skipped when under 10 s of the budget is left
stage() {
  local name="$1" limit="$2"; shift 2
  local start end rc status left
  start=$(date +%s)
  left=$((BUDGET_S - (start - T0)))
  if [ "$left" -lt 10 ]; then
    printf '%s\tskipped\t-\t0\n' "$name" >> "$SUMMARY"
    echo "== $name: skipped (budget of ${BUDGET_S}s spent)" | tee -a "$OUT_DIR/progress.log"
    FAILED=1
    return
  fi
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  echo "== $name (timeout ${limit}s): $*" | tee -a "$OUT_DIR/progress.log"
  timeout --kill-after=10 "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  case $rc in
    0) status=ok ;;
    124|137) status=timeout; FAILED=1 ;;
    *) status=failed; FAILED=1 ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$((end - start))" >> "$SUMMARY"
  echo "   $name: $status (rc $rc, $((end - start)) s)" | tee -a "$OUT_DIR/progress.log"
  tail -n 3 "$OUT_DIR/$name.log" | sed 's/^/   | /'
}

# presets that exist now, by name (others add families while this script waits for a GPU)
PRESETS=$("$PY" - <<'EOF'
from swinsr.speed import PRESETS
wanted = ["swinir-s-x4", "swinir-m-x4", "swin2sr-s-x4"]
extra = [n for n in PRESETS if n.startswith(("hat-s", "dat-light", "dat-s")) and n.endswith("x4")]
print(",".join([n for n in wanted if n in PRESETS] + extra[:2]))
EOF
)
if [ "$DRY_RUN" = "1" ]; then PRESETS=swinir-s-x4; fi
REF_ARGS=()
if [ -n "${SWINSR_REFERENCE_DIR:-}" ]; then REF_ARGS=(--reference-dir "$SWINSR_REFERENCE_DIR"); fi
echo "presets: $PRESETS; device $DEVICE; dry run $DRY_RUN; reference ${SWINSR_REFERENCE_DIR:-none}" | tee "$OUT_DIR/progress.log"

stage env 30 bash -c "nvidia-smi || echo 'no nvidia-smi'; $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); print(\"tf32 matmul\", torch.backends.cuda.matmul.allow_tf32, \"cudnn\", torch.backends.cudnn.allow_tf32, \"cpu\", torch.backends.cpu.get_cpu_capability())'"

# every test with "cuda" in its name or module (the @pytest.mark.cuda ones, and the CPU checks of the CUDA path)
stage tests "$T_LONG" "$PY" -m pytest -q -p no:cacheprovider tests -k cuda

BENCH=("${SWINSR[@]}" bench-speed --device "$DEVICE" --sizes "$SIZE" --batches "$BATCHES" --rounds "$ROUNDS" --flops)
if [ "$DRY_RUN" = "1" ]; then BENCH+=(--no-memory --threads 1); fi
stage bench "$T_LONG" "${BENCH[@]}" --models "$PRESETS" --modes eager,bf16 --no-tf32 "${REF_ARGS[@]}" \
  --markdown --json "$OUT_DIR/bench.json"
stage bench_tf32 "$T_SHORT" "${BENCH[@]}" --models swinir-s-x4,swinir-m-x4 --modes eager --tf32 \
  --markdown --json "$OUT_DIR/bench_tf32.json"
stage train_step "$T_SHORT" "${SWINSR[@]}" bench-speed --device "$DEVICE" --sizes "" --train --train-batch "$TRAIN_BATCH" \
  --rounds 3 "${REF_ARGS[@]}" --markdown --json "$OUT_DIR/train_step.json" \
  $([ "$DRY_RUN" = "1" ] && echo "--no-memory --threads 1")

stage tiled "$T_SHORT" "$PY" - "$DEVICE" "$TILED_W" "$TILED_H" "$OUT_DIR/tiled.json" <<'EOF'
"""Tiled, streamed x4 upscale of a synthetic photo-like image with the default model."""
import json, resource, sys, time
import numpy as np
import torch
from swinsr.inference import Upscaler
from swinsr.zoo import resolve_model

device, w, h, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
img = np.stack([np.sin(xx / 37) * np.cos(yy / 23), np.sin((xx + yy) / 51), np.cos(xx / 13 - yy / 29)], -1)
img = ((img * 0.45 + 0.5) * 255 + np.random.default_rng(0).normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)
tile = 512 if device == "cuda" else 32
up = Upscaler(resolve_model(None, scale=4), tile=tile, device=device)
if device == "cuda":
    up.upscale(img[:256, :256])  # warm-up (kernels, caches) outside the timing
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
out = up.upscale(img)
if device == "cuda":
    torch.cuda.synchronize()
sec = time.perf_counter() - t0
row = dict(input=f"{w}x{h}", output=f"{out.shape[1]}x{out.shape[0]}", tile=tile, precision=up.precision,
           seconds=round(sec, 3), out_mpix_per_s=round(out.shape[0] * out.shape[1] / 1e6 / sec, 2),
           peak_gpu_mb=round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
           peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           output_mb=round(out.nbytes / 2**20), tiles_per_batch=up._pick_batch(tile))
print(json.dumps(row))
open(out_path, "w").write(json.dumps(row, indent=2))
EOF

# training: the default model's option file on a small data folder, then resumed
TRAIN_ROOT="$OUT_DIR/train"
stage train_data 60 "$PY" - "$TRAIN_ROOT" "$GT" <<'EOF'
"""HR training images (the shared set when present, else synthetic) and a paired x4 validation folder."""
import os, sys
from pathlib import Path
import numpy as np
from PIL import Image
from swinsr.imresize import imresize

root, gt = Path(sys.argv[1]), int(sys.argv[2])
shared = Path(os.environ.get("SWINSR_SHARED", "../shared"))
(root / "hr").mkdir(parents=True, exist_ok=True)
for sub in ("val/HR", "val/LR"):
    (root / sub).mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
sources = sorted((shared / "data/train/DIV2K_valid_crop256").glob("*.png"))[:32]
for i in range(16):
    if sources:
        img = np.asarray(Image.open(sources[i % len(sources)]).convert("RGB"))
    else:
        yy, xx = np.mgrid[0:160, 0:160]
        img = np.stack([np.sin(xx / (5 + i)) , np.cos(yy / (7 + i)), np.sin((xx + yy) / (9 + i))], -1)
        img = ((img * 0.45 + 0.5) * 255 + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(root / "hr" / f"{i:03d}.png")
for i in range(2):
    hr = np.asarray(Image.open(root / "hr" / f"{i:03d}.png"))[:gt, :gt]
    Image.fromarray(hr).save(root / "val/HR" / f"v{i}.png")
    lr = np.clip(np.round(imresize(hr.astype(np.float64), 1 / 4)), 0, 255).astype(np.uint8)
    Image.fromarray(lr).save(root / "val/LR" / f"v{i}x4.png")
print("training images:", "shared DIV2K crops" if sources else "synthetic", "->", root)
EOF

TRAIN=("${SWINSR[@]}" train -opt options/train/train_swinsr_light_x4.yml --force_yml name=gpu_check_light_x4
  "path:experiments_root=$OUT_DIR/experiments" "datasets:train:dataroot_gt=$TRAIN_ROOT/hr"
  "datasets:train:batch_size_per_gpu=$TRAIN_BATCH" "datasets:train:gt_size=$GT" datasets:train:cache=false
  "datasets:val:dataroot_gt=$TRAIN_ROOT/val/HR" "datasets:val:dataroot_lq=$TRAIN_ROOT/val/LR"
  train:warmup_iter=0 "train:scheduler:milestones=[1000]" logger:print_freq=10
  "logger:save_checkpoint_freq=$ITERS_A" "val:val_freq=$ITERS_A")
if [ "$DRY_RUN" = "1" ]; then TRAIN+=(num_threads=1); fi
stage train "$T_LONG" "${TRAIN[@]}" "train:total_iter=$ITERS_A"
stage train_resume "$T_SHORT" "${TRAIN[@]}" "train:total_iter=$ITERS_B" --auto_resume
stage train_resume_check 10 grep -q "Resuming training from iter $ITERS_A" "$OUT_DIR/train_resume.log"

# last: compilation is the slowest and least predictable stage
COMPILED_MODELS=swinir-s-x4,swinir-m-x4
COMPILE_ENV=()
if [ "$DRY_RUN" = "1" ]; then
  # inductor's C++ build takes minutes on a CPU: the dry run checks the stage, not the compiler
  COMPILED_MODELS=swinir-s-x4; COMPILE_ENV=(env TORCH_COMPILE_DISABLE=1)
fi
stage compiled "$T_COMPILE" "${COMPILE_ENV[@]}" "${SWINSR[@]}" bench-speed --device "$DEVICE" --sizes "$SIZE" --batches 1 --rounds "$ROUNDS" \
  --models "$COMPILED_MODELS" --modes eager,compiled --flops --markdown --json "$OUT_DIR/compiled.json" \
  $([ "$DRY_RUN" = "1" ] && echo "--no-memory --threads 1")
echo "summary: $SUMMARY"
cat "$SUMMARY"
exit $FAILED
