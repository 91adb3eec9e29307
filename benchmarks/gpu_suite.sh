#!/bin/bash
# The GPU runs recorded in BENCHMARKS.md, as one script for a lent machine that has JAX
# but no TensorFlow and no network. Prepare here (with tfds), then run there:
#
#   python -m benchmarks.offline_data export --out .gpu/data
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/whl \
#       tensorboardX==2.6.5 flax==0.12.12 optax==0.2.8 orbax-checkpoint==0.12.8   # the versions tested with jax 0.11.2
#   OUT=results BUDGET=470 bash benchmarks/gpu_suite.sh main
#   OUT=results BUDGET=330 bash benchmarks/gpu_suite.sh conditional
#   OUT=results BUDGET=520 bash benchmarks/gpu_suite.sh scan
#   OUT=results BUDGET=540 JAXGAN_INCEPTION_WEIGHTS=W.npz bash benchmarks/gpu_suite.sh long
#   OUT=results BUDGET=540 bash benchmarks/gpu_suite.sh best
#   OUT=results BUDGET=560 bash benchmarks/gpu_suite.sh fast
#   OUT=results BUDGET=300 bash benchmarks/gpu_suite.sh determinism
#   OUT=results BUDGET=300 bash benchmarks/gpu_suite.sh saves
#   OUT=results BUDGET=540 bash benchmarks/gpu_suite.sh decay   (RESUME=1 continues it on the same machine)
#   OUT=results BUDGET=580 bash benchmarks/gpu_suite.sh goal    (RESUME=1 continues its two long runs)
#   OUT=results BUDGET=570 bash benchmarks/gpu_suite.sh pairs   (RESUME=1 continues its four runs)
#
# main: 1. the default recipe, 50 epochs, alone on the GPU (wall time, img/s);
#       2. side by side until the budget runs out: recipe candidates and the 64/128-pixel Radford nets,
#          each stopped by SIGTERM (a clean, resumable stop);
#       3. 10,000 samples of each 28x28 run (for the Inception FID, computed where the weights are).
# conditional: fashion_cdcgan with the Radford recipe + EMA (until the budget) beside longer runs of two recipes, then
#       10,000 samples of each, a one-class grid, the class-conditional metrics and a latent walk.
# scan: as main and conditional, with the fastest --steps-per-call of 1, 10, 100 (benchmarks/steps_per_call.py,
#       first): 1. the default recipe, 50 epochs alone, the metrics every 10 epochs; 2. the cdcgan and the two best recipes side by side until the
#       budget; 3. their 10,000 samples, the cdcgan's evaluation.
# long: the steps-per-call benchmark, the default recipe alone with 100 steps a call, then the best recipe (hinge
#       + EMA + Radford Adam) alone until the budget; 10,000 samples of each and, where JAXGAN_INCEPTION_WEIGHTS
#       names the FID weights, their Inception FID on the GPU (about 2 minutes of the budget).
# best: issue 5's FID target: the best recipe (hinge + EMA 0.999 + Radford Adam, FID 13.5 after 165 epochs) beside
#       the same with EMA 0.9999 (a 10-epoch horizon for runs of hundreds of epochs), side by side for the whole
#       budget, 100 steps a call, the metrics every 25 epochs, every 5th epoch's checkpoint kept; then 10,000
#       samples of each, and of each one's mean generator over its last 4 kept epochs (--average 4) (their
#       Inception FID computed there with JAXGAN_INCEPTION_WEIGHTS, or here from the samples: 87 MB of weights
#       exceed one call's 64 MiB of carried files).
# fast: issue 4's 60-second goal and issue 5's larger batches. 1. The scanned step (100 a call) with XLA's default
#       command buffers (CUDA graphs), with loops and conditionals captured too, and with none (benchmarks/
#       steps_per_call.py, each in its own process, compilation cache off); 2. the default recipe, 50 epochs alone
#       with the faster flags, twice: a first run (empty compilation cache) and a repeated one (its cache warm);
#       3. the best recipe at batch 256 (plain, with DiffAugment, with lr 4e-4) side by side until the budget,
#       then 10,000 samples of each. Probe logs come back as $OUT/probes.tgz.
# determinism: what XLA_FLAGS=--xla_gpu_deterministic_ops=true (docs/reliability.md) costs and gives: the scanned
#       step's img/s with and without it, then the default recipe for 3 epochs twice with it and twice without,
#       and whether each pair's metrics.jsonl agree (timings aside). Its logs come back as $OUT/determinism.tgz.
# saves: whether the mid-epoch checkpoints hold the GPU back (fast's epochs ran at 80% of the step alone): the
#       default recipe's 50 epochs with --eval-every 50, as in fast, and the same with --checkpoint-every 1000000
#       (epoch ends only), one after the other, after a 1-epoch run has filled the compilation cache. Logs and wall
#       times come back as $OUT/saves.tgz.
# decay: issue 5's FID target with the learning-rate decay (FID 13.7 -> 12.7 on the CPU over 20 epochs): the best
#       recipe for 200 epochs decayed over the last 100, beside the same with the two time-scale rule (D at 4e-4, G
#       at 2e-4: level with the plain recipe after 10 epochs on a CPU, where G at 1e-4 lagged), with two D steps
#       a G step, and with D twice as wide (--disc-width 128), 100 steps a call, the metrics every 25 epochs; then
#       10,000 samples of each. A run the budget stops is resumed by calling again with RESUME=1 (the machine still
#       warm: /tmp kept), which trains on from its checkpoint and draws the samples again.
# goal: issue 4's 60-second goal and GPU determinism, then issue 5's FID target in the time left. The scanned
#       step alone with deterministic ops (since 2026-11-28; a probe, as in fast), then the default recipe's 50
#       epochs alone (--eval-every 50), four times: 1. deterministic ops and epoch-end checkpoints
#       only (the GPU defaults since 2026-11-28; run on that date with the code before, with the flags spelled
#       out), empty compilation cache (a first run); 2. the same again (a repeated run, cache warm; its records
#       must equal 1's); 3. the same with a checkpoint every 500 steps (the cost of mid-epoch checkpoints;
#       records equal to 1's); 4. without deterministic ops (their cost). Logs, records, wall times and the
#       agreement come back as $OUT/goal.tgz. Then, side by side for the rest of the budget, the best recipe for
#       100 epochs decayed over the last 50, and the same with D twice as wide (--seed $SEED, 0 unless set: run
#       with SEED=0 on 2026-11-28; another seed tells whether the wide D's lower FID holds); 10,000 samples of each.
# pairs: issue 5's FID target, one candidate against the recipe on two seeds: the best recipe for 100 epochs
#       decayed over the last 50 (FID 13.9 on 2026-11-28) with seeds 0 and 1, beside the same plus $CANDIDATE
#       (--disc-depth 1 --gen-depth 1 unless set), four runs side by side with deterministic ops; then 10,000
#       samples of each. One seed a recipe cannot tell levers of about 1 FID apart: the recipe's seeds 0 and 1
#       end a 20-epoch CPU screen 1.5 apart (BENCHMARKS.md, "Spectral normalization"). --disc-depth 1 ended that
#       screen 3.4 and 4.8 lower on the two seeds ("A deeper discriminator"), --disc-depth 1 --gen-depth 1 7.0
#       and 8.7 lower ("A deeper generator"); --spectral-norm 6-8 higher.
# Since 2026-11-28 the experiments ask for deterministic GPU ops; the parts recorded before that ran without them
# (XLA_FLAGS=--xla_gpu_deterministic_ops=false repeats them as they ran).
# Each run's folder comes back as $OUT/<name>.tgz, without checkpoints and GIF (rebuilt from samples/).
# EXTRA adds flags to every run (a smoke test on a CPU: EXTRA="--num-train 640 --epochs 2", and PROBE_STEPS=100).
set -u
PART=${1:?main, conditional, scan, long, best, fast, determinism, saves, decay, goal or pairs}
BUDGET=${BUDGET:-520}
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
python3 -c "import flax, optax, orbax.checkpoint, tensorboardX" 2>/dev/null ||  # present where it is smoke-tested
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl ||
  exit 1
export PYTHONPATH=$PWD:/tmp/site
R=/tmp/runs
[ -n "${RESUME:-}" ] || rm -rf "$R"
mkdir -p "$R" "$OUT"
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
  python3 -c "import jax, flax, optax, orbax.checkpoint as oc; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', oc.__version__, jax.devices())"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

train() {  # name seconds module flags...: one training run, stopped by SIGTERM after `seconds`
  local name=$1 secs=$2 module=$3; shift 3
  timeout -s TERM -k 30 "$secs" python3 -m benchmarks.offline_data run .gpu/data "experiments.$module" \
    --workdir "$R/$name" "$@" ${EXTRA:-} >> "$R/$name.log" 2>&1
  echo "$name: exit $? after $(( $(date +%s) - T0 )) s of the budget"
}
pack() {  # names...: each run's folder, without checkpoints and GIF, to $OUT/<name>.tgz (THIN=1: nor TensorBoard
  # files, and only every 10th epoch's grid: one file back may hold 16 MiB)
  for name in "$@"; do
    [ -d "$R/$name" ] || continue
    cp "$R/$name.log" "$R/$name/train.log"
    (cd "$R" && tar czf "$OUT/$name.tgz" --exclude=checkpoints --exclude=progression.gif ${THIN:+--exclude=tensorboard \
      --exclude="epoch_??[1-9].png"} "$name")
  done
  ls -la "$OUT"; echo "done after $(( $(date +%s) - T0 )) s"
}
fid() {  # names...: the Inception FID of each run's samples_10k*.npz, if JAXGAN_INCEPTION_WEIGHTS is set
  [ -n "${JAXGAN_INCEPTION_WEIGHTS:-}" ] || return 0
  for name in "$@"; do
    for samples in "$R/$name"/samples_10k*.npz; do
      python3 -m benchmarks.offline_data run .gpu/data experiments.evaluate --samples "$samples" \
        --inception --json > "${samples%.npz}.fid.log" 2>&1
      echo "$name $(basename "$samples"): $(tail -1 "${samples%.npz}.fid.log")"
    done
  done
}
probe() {  # folder name flags: the scanned step alone (100 a call) with XLA_FLAGS=flags, compilation cache off;
  # its log and JSON go to folder/steps_per_call_<name>.{log,json}
  mkdir -p "$1"
  XLA_FLAGS=$3 JAX_ENABLE_COMPILATION_CACHE=false XLA_PYTHON_CLIENT_MEM_FRACTION=0.75 timeout 90 \
    python3 -m benchmarks.steps_per_call --lengths 100 --repeats 3 --steps "${PROBE_STEPS:-1000}" \
    --json "$1/steps_per_call_$2.json" > "$1/steps_per_call_$2.log" 2>&1
  echo "probe $2 ($3): exit $? $(grep -A1 steps/call "$1/steps_per_call_$2.log" | tail -1)"
}
agree() {  # folder reference names...: whether each run's folder/<name>.jsonl equals the reference's, timings
  # aside; appended to folder/agreement.txt
  (cd "$1" && python3 -c "
import json, sys
def records(name):  # each record without its timings
    return [{k: v for k, v in json.loads(line).items() if k not in ('epoch_time_s', 'img_per_s')}
            for line in open(name + '.jsonl')]
reference, *names = sys.argv[1:]
for name in names:
    print(name, 'agrees with' if records(name) == records(reference) else 'differs from', reference)" "${@:2}") |
    tee -a "$1/agreement.txt"
}
radford=(--learning-rate 2e-4 --beta1 0.5 --epochs 500 --checkpoint-every 1000000)
one=(--steps-per-call 1)  # main and conditional as recorded: one step a dispatch (the default until 2026-11-27)
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.15  # room for the runs side by side


main() {
  # 1. The default recipe, alone.
  local start=$(date +%s%N)
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.75 train default 240 fashion_dcgan --seed 0 "${one[@]}"
  echo "default wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee "$R/default.wall"
  tail -3 "$R/default.log"
  # 2. Side by side.
  local secs=$(( $(left) - 110 ))
  train ema       "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 &
  train hinge_ema "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 --loss hinge &
  train lsgan_ema "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 --loss lsgan &
  train dcgan64   "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --arch dcgan64 --eval-samples 500 &
  train dcgan128  "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --arch dcgan128 --eval-samples 500 &
  wait
  # 3. Samples for the Inception FID, and grids.
  for name in default ema hinge_ema lsgan_ema; do
    python3 -m experiments.generate --workdir "$R/$name" --num 10000 --seed 1 --out "$R/$name/samples_10k.npz" &
  done
  for name in dcgan64 dcgan128; do
    python3 -m experiments.generate --workdir "$R/$name" --num 64 --seed 1 --out "$R/$name/grid.png" &
  done
  wait
  pack default ema hinge_ema lsgan_ema dcgan64 dcgan128
}

conditional() {
  local secs=$(( $(left) - 100 ))
  train cdcgan       "$secs" fashion_cdcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 &
  train hinge_ema_long "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 --loss hinge &
  train ema_long     "$secs" fashion_dcgan --seed 0 "${one[@]}" "${radford[@]}" --ema-decay 0.999 &
  wait
  local gen="python3 -m experiments.generate --seed 1"
  for name in cdcgan hinge_ema_long ema_long; do
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  $gen --workdir "$R/cdcgan" --num 64 --class sneaker --out "$R/cdcgan/sneakers.png" &
  $gen --workdir "$R/hinge_ema_long" --num 16 --interpolate 4 --out "$R/hinge_ema_long/interpolation.gif" &
  python3 -m benchmarks.offline_data run .gpu/data experiments.evaluate --workdir "$R/cdcgan" --json \
    > "$R/cdcgan.eval.log" 2>&1 &
  wait
  cp "$R/cdcgan.eval.log" "$R/cdcgan/"
  pack cdcgan hinge_ema_long ema_long
}

scan() {
  python3 -m benchmarks.steps_per_call --lengths 1 10 100 --json "$OUT/steps_per_call.json" || exit 1
  local k=$(python3 -c "import json; print(json.load(open('$OUT/steps_per_call.json'))['best'])")
  local start=$(date +%s%N) fast=(--steps-per-call "$k")
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.75 train default_scan 200 fashion_dcgan --seed 0 "${fast[@]}" --eval-every 10
  echo "default_scan wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee "$R/default_scan.wall"
  tail -3 "$R/default_scan.log"
  local secs=$(( $(left) - 110 ))
  train cdcgan_scan    "$secs" fashion_cdcgan --seed 0 "${radford[@]}" --ema-decay 0.999 "${fast[@]}" --eval-every 5 &
  train hinge_ema_scan "$secs" fashion_dcgan --seed 0 "${radford[@]}" --ema-decay 0.999 --loss hinge "${fast[@]}" \
    --eval-every 5 &
  train ema_scan       "$secs" fashion_dcgan --seed 0 "${radford[@]}" --ema-decay 0.999 "${fast[@]}" --eval-every 5 &
  wait
  local gen="python3 -m experiments.generate --seed 1"
  for name in default_scan cdcgan_scan hinge_ema_scan ema_scan; do
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  python3 -m benchmarks.offline_data run .gpu/data experiments.evaluate --workdir "$R/cdcgan_scan" --json \
    > "$R/cdcgan_scan.eval.log" 2>&1 &
  wait
  cp "$R/cdcgan_scan.eval.log" "$R/cdcgan_scan/"
  pack default_scan cdcgan_scan hinge_ema_scan ema_scan
}

long() {
  python3 -m benchmarks.steps_per_call --lengths 1 10 100 --json "$OUT/steps_per_call.json" || exit 1
  local start=$(date +%s%N) fast=(--steps-per-call 100) gen="python3 -m experiments.generate --seed 1"
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.6 JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache
  train default_long 200 fashion_dcgan --seed 0 "${fast[@]}" --eval-every 10
  echo "default_long wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee "$R/default_long.wall"
  tail -3 "$R/default_long.log"
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 $gen --workdir "$R/default_long" --num 10000 \
    --out "$R/default_long/samples_10k.npz" &
  train hinge_ema_long "$(( $(left) - 170 ))" fashion_dcgan --seed 0 "${radford[@]}" --ema-decay 0.999 --loss hinge \
    "${fast[@]}" --eval-every 10
  $gen --workdir "$R/hinge_ema_long" --num 10000 --out "$R/hinge_ema_long/samples_10k.npz"
  wait
  fid default_long hinge_ema_long
  pack default_long hinge_ema_long
}

best() {
  local gen="python3 -m experiments.generate --seed 1"
  local recipe=("${radford[@]}" --loss hinge --eval-every 25 --keep-every 5)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.4 JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache
  local secs=$(( $(left) - 90 ))
  train hinge_ema_best   "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --ema-decay 0.999 &
  train hinge_ema4_best  "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --ema-decay 0.9999 &
  wait
  for name in hinge_ema_best hinge_ema4_best; do
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
    $gen --workdir "$R/$name" --num 10000 --average 4 --out "$R/$name/samples_10k_average4.npz" &
  done
  wait
  fid hinge_ema_best hinge_ema4_best
  pack hinge_ema_best hinge_ema4_best
}

fast() {
  local gen="python3 -m experiments.generate --seed 1" cb=--xla_gpu_enable_command_buffer
  local graphs="$cb=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,CONDITIONAL,WHILE" name
  probe "$R/probes" default ""
  probe "$R/probes" graphs "$graphs"
  probe "$R/probes" none "$cb="
  local best=$(cd "$R/probes" && python3 -c "
import glob, json
rates = {f[15:-5]: json.load(open(f))['img_per_s']['100'] for f in glob.glob('steps_per_call_*.json')}
print(max(rates, key=rates.get) if rates else 'default')")
  case $best in graphs) export XLA_FLAGS=$graphs ;; none) export XLA_FLAGS="$cb=" ;; esac
  echo "fastest: $best, XLA_FLAGS=${XLA_FLAGS:-}" | tee "$R/probes/fastest.txt"
  export JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache XLA_PYTHON_CLIENT_MEM_FRACTION=0.75
  rm -rf "$JAX_COMPILATION_CACHE_DIR"
  for name in default_first default_repeat; do
    local start=$(date +%s%N)
    train "$name" 150 fashion_dcgan --seed 0 --eval-every 50
    echo "$name wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee "$R/$name.wall" "$R/probes/$name.wall"
    grep -E "compiled|epoch 50" "$R/$name.log" | tail -2
  done
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.25
  local recipe=("${radford[@]}" --loss hinge --ema-decay 0.999 --batch-size 256 --eval-every 20)
  local secs=$(( $(left) - 80 ))
  train b256      "$secs" fashion_dcgan --seed 0 "${recipe[@]}" &
  train b256_da   "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --diffaugment translation,cutout &
  train b256_lr4  "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --learning-rate 4e-4 &
  wait
  for name in b256 b256_da b256_lr4; do
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  wait
  (cd "$R" && tar czf "$OUT/probes.tgz" probes)
  THIN=1 pack default_first default_repeat b256 b256_da b256_lr4
}

determinism() {
  local det=--xla_gpu_deterministic_ops=true name
  mkdir -p "$R/determinism"
  for i in 1 2; do  # twice each, alternating: noise hits both
    probe "$R/determinism" "plain_$i" --xla_gpu_deterministic_ops=false
    probe "$R/determinism" "deterministic_$i" "$det"
  done | tee "$R/determinism/probes.txt"
  for name in plain_1 plain_2 deterministic_1 deterministic_2; do
    local flags=--xla_gpu_deterministic_ops=false; [ "${name%_*}" = deterministic ] && flags=$det
    XLA_FLAGS=$flags XLA_PYTHON_CLIENT_MEM_FRACTION=0.75 train "$name" 120 fashion_dcgan --seed 0 --epochs 3
    cp "$R/$name/metrics.jsonl" "$R/determinism/$name.jsonl"
  done
  agree "$R/determinism" plain_1 plain_2
  agree "$R/determinism" deterministic_1 deterministic_2
  (cd "$R" && tar czf "$OUT/determinism.tgz" determinism)
}

saves() {
  export JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache XLA_PYTHON_CLIENT_MEM_FRACTION=0.75
  mkdir -p "$R/saves"
  train warmup 150 fashion_dcgan --seed 0 --eval-every 50 --epochs 1
  for name in every500 epoch_ends; do
    local start=$(date +%s%N) flags=()
    [ "$name" = epoch_ends ] && flags=(--checkpoint-every 1000000)
    train "$name" 150 fashion_dcgan --seed 0 --eval-every 50 "${flags[@]}"
    echo "$name wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee -a "$R/saves/walls.txt"
    cp "$R/$name/metrics.jsonl" "$R/saves/$name.jsonl"
    cp "$R/$name.log" "$R/saves/"
  done
  (cd "$R" && tar czf "$OUT/saves.tgz" saves)
}

decay() {
  local gen="python3 -m experiments.generate --seed 1" name
  local recipe=(--learning-rate 2e-4 --beta1 0.5 --loss hinge --ema-decay 0.999 --epochs 200 --lr-decay-epochs 100
    --checkpoint-every 1000000 --eval-every 25)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache
  local secs=$(( $(left) - 80 ))
  train decay100      "$secs" fashion_dcgan --seed 0 "${recipe[@]}" &
  train decay100_ttur "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --disc-learning-rate 4e-4 &
  train decay100_d2   "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --disc-steps 2 &
  train decay100_wide "$secs" fashion_dcgan --seed 0 "${recipe[@]}" --disc-width 128 &
  wait
  for name in decay100 decay100_ttur decay100_d2 decay100_wide; do
    grep -E "^epoch" "$R/$name.log" | tail -1
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  wait
  THIN=1 pack decay100 decay100_ttur decay100_d2 decay100_wide
}

goal() {
  local det=--xla_gpu_deterministic_ops=true gen="python3 -m experiments.generate --seed 1" name
  export JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache
  if [ -z "${RESUME:-}" ]; then
    rm -rf "$JAX_COMPILATION_CACHE_DIR"
    mkdir -p "$R/goal"
    probe "$R/goal" det "$det"  # the scanned step alone: what the epochs' rate is measured against
    for name in det_first det_repeat det_ckpt500 plain; do
      local start=$(date +%s%N) flags=() xla=$det  # the defaults since 2026-11-28
      [ "$name" = det_ckpt500 ] && flags=(--checkpoint-every 500)
      [ "$name" = plain ] && xla=--xla_gpu_deterministic_ops=false
      XLA_FLAGS=$xla XLA_PYTHON_CLIENT_MEM_FRACTION=0.75 train "$name" 150 fashion_dcgan --seed 0 --eval-every 50 \
        "${flags[@]}"
      echo "$name wall_ms $(( ($(date +%s%N) - start) / 1000000 ))" | tee -a "$R/goal/walls.txt"
      grep -E "compiled|epoch 50" "$R/$name.log" | tail -2
      cp "$R/$name/metrics.jsonl" "$R/goal/$name.jsonl"
      cp "$R/$name.log" "$R/goal/"
    done
    agree "$R/goal" det_first det_repeat det_ckpt500 plain
    (cd "$R" && tar czf "$OUT/goal.tgz" goal)
  fi
  local recipe=(--learning-rate 2e-4 --beta1 0.5 --loss hinge --ema-decay 0.999 --epochs 100 --lr-decay-epochs 50
    --checkpoint-every 1000000 --eval-every 25)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.3
  local secs=$(( $(left) - 45 ))
  train decay50      "$secs" fashion_dcgan --seed "${SEED:-0}" "${recipe[@]}" &
  train decay50_wide "$secs" fashion_dcgan --seed "${SEED:-0}" "${recipe[@]}" --disc-width 128 &
  wait
  for name in decay50 decay50_wide; do
    grep -E "^epoch" "$R/$name.log" | tail -1
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  wait
  THIN=1 pack decay50 decay50_wide
}

pairs() {
  local gen="python3 -m experiments.generate --seed 1" candidate=(${CANDIDATE:---disc-depth 1 --gen-depth 1}) seed name
  local recipe=(--learning-rate 2e-4 --beta1 0.5 --loss hinge --ema-decay 0.999 --epochs 100 --lr-decay-epochs 50
    --checkpoint-every 1000000 --eval-every 25)
  local names=(recipe_s0 candidate_s0 recipe_s1 candidate_s1)
  echo "candidate: ${candidate[*]}" | tee "$OUT/candidate.txt"
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 JAX_COMPILATION_CACHE_DIR=/tmp/xla-cache
  local secs=$(( $(left) - 60 ))
  for seed in 0 1; do
    train "recipe_s$seed" "$secs" fashion_dcgan --seed "$seed" "${recipe[@]}" &
    train "candidate_s$seed" "$secs" fashion_dcgan --seed "$seed" "${recipe[@]}" "${candidate[@]}" &
  done
  wait
  for name in "${names[@]}"; do
    grep -E "^epoch" "$R/$name.log" | tail -1
    $gen --workdir "$R/$name" --num 10000 --out "$R/$name/samples_10k.npz" &
  done
  wait
  THIN=1 pack "${names[@]}"
}

"$PART"
