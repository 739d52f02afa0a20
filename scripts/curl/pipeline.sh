#!/usr/bin/env bash
# The Sys2-FT pipeline as plain curl calls against a running stack (CI runs it against a live one):
#   the shipped news set → a Self-QA generation run → a LoRA training job → base / ICL / FT evaluation
#   runs → the comparison report; then the same as one experiment.
# Usage: scripts/curl/pipeline.sh   (SYS2FT_{GENERATION,TRAINING,EVALUATION}_URL, SYS2FT_API_KEY, ITEMS, SAMPLES)
set -euo pipefail
GEN=${SYS2FT_GENERATION_URL:-http://127.0.0.1:3001}
TRAIN=${SYS2FT_TRAINING_URL:-http://127.0.0.1:3002}
EVAL=${SYS2FT_EVALUATION_URL:-http://127.0.0.1:3003}
ITEMS=${ITEMS:-'"mathematics-001", "coding-001"'}
SAMPLES=${SAMPLES:-2}
AUTH=(-H "x-request-id: curl-pipeline-$$")
[[ -n "${SYS2FT_API_KEY:-}" ]] && AUTH+=(-H "authorization: Bearer $SYS2FT_API_KEY")

get() { curl -fsS "${AUTH[@]}" "$1"; }
post() { curl -fsS "${AUTH[@]}" -H 'content-type: application/json' -H "idempotency-key: $1" -X POST "$2" -d "$3"; }
field() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
wait_for() { # url → waits for a terminal state; fails unless succeeded
  local state
  for _ in $(seq 1 1800); do
    state=$(get "$1" | field "d['state']")
    case "$state" in
      succeeded) return 0 ;;
      failed | cancelled) echo "$1: $state" >&2; get "$1" >&2; return 1 ;;
    esac
    sleep 1
  done
  echo "$1: timed out" >&2; return 1
}

SET=$(get "$GEN/news-sets?kind=news&builtin=true" | field "d['data'][0]['id']")
MODEL=$(get "$TRAIN/workers" | field "[w['model'] for w in d['data'] if w['status'] == 'up'][0]")
echo "news set $SET, model $MODEL"

RUN=$(post "curl-gen-$$" "$GEN/generation-runs" "{\"news_set_id\": \"$SET\", \"protocol\": \"self_qa\", \"filter\": {\"item_keys\": [$ITEMS]}, \"options\": {\"samples_per_news\": $SAMPLES, \"max_tokens\": 48}}" | field "d['id']")
wait_for "$GEN/generation-runs/$RUN"
get "$GEN/generation-runs/$RUN" | field "'generation %s: %s accepted, %s rejected %s' % (d['id'], d['samples']['accepted'], d['samples']['rejected'], d['samples']['rejected_by_reason'])"

# a tiny model may accept no Self-QA pair: add the news text itself (naive) so the job always has data
JOB=$(post "curl-train-$$" "$TRAIN/training-jobs" "{\"base_model\": \"$MODEL\", \"data\": [{\"generation_run_id\": \"$RUN\"}, {\"news_set_id\": \"$SET\", \"item_keys\": [$ITEMS]}], \"hyperparameters\": {\"epochs\": 1, \"batch_size\": 2}}" | field "d['id']")
wait_for "$TRAIN/training-jobs/$JOB"
ADAPTER=$(get "$TRAIN/training-jobs/$JOB" | field "d['adapter_id']")
echo "training $JOB → adapter $ADAPTER"

RUNS=()
for MODE in base icl ft; do
  EXTRA=""; [[ $MODE == ft ]] && EXTRA=", \"adapter_id\": \"$ADAPTER\""
  EV=$(post "curl-eval-$MODE-$$" "$EVAL/eval-runs" "{\"model\": \"$MODEL\", \"set_id\": \"$SET\", \"mode\": \"$MODE\", \"filter\": {\"item_keys\": [$ITEMS]}$EXTRA}" | field "d['id']")
  wait_for "$EVAL/eval-runs/$EV"
  RUNS+=("$EV")
done
IDS=$(IFS=,; echo "${RUNS[*]}")
get "$EVAL/reports?runs=$IDS" | field "'\n'.join('%-8s accuracy %.3f' % (r['mode'], r['summary']['overall']['accuracy']['value']) for r in d['runs']) + '\n' + '\n'.join('%s %s' % (c['kind'], c['estimate']['value']) for c in d['comparisons'])"

EXP=$(post "curl-exp-$$" "$EVAL/experiments" "{\"preset\": \"ft-icl-gap\", \"item_keys\": [$ITEMS], \"samples_per_news\": [1], \"training\": {\"epochs\": [1]}}" | field "d['id']")
wait_for "$EVAL/experiments/$EXP"
CSV=$(get "$EVAL/experiments/$EXP/results?format=csv")
printf '%s\n' "$CSV" | head -n 3
echo "pipeline ok: $RUN $JOB ${RUNS[*]} $EXP"
