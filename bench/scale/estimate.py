"""The arithmetic of docs/scale.md: the `protocols` preset at the research's scale, tokens and wall time.

    python3 bench/scale/estimate.py [--para 220 --impl 300 --questions 170 --answer 200 ...]

Every input is a flag; the defaults are the figures docs/scale.md states, each marked there as
measured (prompt and naive-conversation tokens with the Qwen2.5 tokenizer, bench/scale/tokens.py;
completion lengths sampled from the 1.5B model on the CPU) or assumed (rejection rate, H200 rates).
Prints the tokens per protocol, the single-GPU times per model, and the critical paths on 8 and 64
GPUs with today's HTTP workers, with the Ray backend as built (chunks over the engine actors, each
training on one actor's GPU) and with data-parallel training on top (not built).
"""

from __future__ import annotations

import argparse
import math

PEAK = 989.4e12  # H200 dense bf16 (bench/gpu/flops.py)
MODELS = {  # parameters; layers, width (attention term of bench/gpu/flops.py)
    "1.5B": (1.544e9, 28, 1536),
    "7B": (7.61e9, 28, 3584),
    "32B": (32.5e9, 64, 5120),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--news", type=int, default=75)
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--para", type=float, default=207, help="mean paraphrase completion tokens")
    ap.add_argument("--impl", type=float, default=231, help="mean implication completion tokens")
    ap.add_argument("--questions", type=float, default=136, help="mean tokens of one Self-QA question-list completion (8 questions)")
    ap.add_argument("--question", type=float, default=17, help="mean tokens of one Self-QA question")
    ap.add_argument("--answer", type=float, default=100, help="mean Self-QA answer tokens")
    ap.add_argument("--naive", type=float, default=257.5, help="tokens of a naive training conversation (measured)")
    ap.add_argument("--overhead", type=float, default=35, help="chat-template tokens of a generated sample's conversation (measured)")
    ap.add_argument("--reject", type=float, default=0.10, help="rejected share of each stage's outputs (assumed)")
    ap.add_argument("--gen-rate", default="1.5B=25000,7B=12000,32B=3500", help="H200 vLLM output tok/s per GPU (assumed)")
    ap.add_argument("--mfu", type=float, default=0.20, help="LoRA training MFU, bench/gpu/flops.py's definition (assumed; the target is 0.35)")
    ap.add_argument("--dp-efficiency", type=float, default=0.85, help="data-parallel scaling efficiency of one training over several GPUs (assumed)")
    args = ap.parse_args()
    gen_rate = {k: float(v) for k, v in (kv.split("=") for kv in args.gen_rate.split(","))}
    n, s = args.news, args.samples
    redo = s * args.reject  # max_rounds 2: what round 1 rejected is asked for once more
    free = s + redo
    q_calls = math.ceil(1.5 * s / 8) + math.ceil(1.5 * redo / 8)  # questions_per_call 8, 1.5x what is needed
    gen = {
        "naive": 0.0,
        "paraphrase": n * free * args.para,
        "implication": n * free * args.impl,
        "self_qa": n * (q_calls * args.questions + free * args.answer),
    }
    per_sample = {
        "naive": args.naive,
        "paraphrase": args.overhead + args.para,
        "implication": args.overhead + args.impl,
        "self_qa": args.overhead + args.question + args.answer,
    }
    train = {p: n * s * t * args.epochs for p, t in per_sample.items()}
    seq = sum(per_sample.values()) / len(per_sample)
    print(f"per news: {free:.0f} free-text completions each for paraphrase and implication; Self-QA {q_calls} question lists + {free:.0f} answers")
    print(f"{'protocol':12s} {'generate (M tok)':>17s} {'train (M tok, all epochs)':>26s} {'tokens/sample':>14s}")
    for p in gen:
        print(f"{p:12s} {gen[p] / 1e6:17.1f} {train[p] / 1e6:26.1f} {per_sample[p]:14.0f}")
    G, T = sum(gen.values()), sum(train.values())
    print(f"{'total':12s} {G / 1e6:17.1f} {T / 1e6:26.1f}")
    samples = n * (3 * free)
    print(f"rows written per model: ~{samples / 1e3:.0f}k samples (3 generated protocols), ~{8 * free:.0f} per chunk transaction (items_per_call 8)")
    totals: dict[str, float] = {}
    for m, (N, layers, d) in MODELS.items():
        f_tok = 4 * N + 6 * layers * d * seq
        tr_rate = args.mfu * PEAK / f_tok
        g_min = {p: v / gen_rate[m] / 60 for p, v in gen.items()}
        t_min = {p: v / tr_rate / 60 for p, v in train.items()}
        one = sum(g_min.values()) + sum(t_min.values())
        # HTTP workers today: each run's chunks one after another on one pod, each training on one pod
        http = max(g_min[p] + t_min[p] for p in gen)
        print(f"\n{m}: generation {gen_rate[m]:.0f} tok/s (bound {PEAK / (2 * N):.0f}), training {tr_rate:.0f} tok/s (MFU {args.mfu:.0%}; at 35%: {0.35 * PEAK / f_tok:.0f})")
        print(f"  1 GPU: generation {sum(g_min.values()):.0f} min + training {sum(t_min.values()):.0f} min = {one:.0f} min ({one / 60:.1f} h)")
        print("  per protocol, generation / training min: " + ", ".join(f"{p} {g_min[p]:.1f}/{t_min[p]:.1f}" for p in gen))
        print(f"  HTTP workers, >= 4 GPUs: critical path max(generation + training of one protocol) = {http:.0f} min; more GPUs do not shorten it")
        for gpus in (8, 64):
            ideal = one / gpus
            chunks = 3 * math.ceil(n / 8)
            # Ray backend as built: generation chunks over all actors (one chunk per actor at a time),
            # each training job on one actor (one GPU)
            g_par = sum(g_min.values()) / min(gpus, chunks)
            built = g_par + max(t_min.values())
            print(f"  Ray backend as built, {gpus} GPUs: generation {g_par:.1f} min ({chunks} chunks at items_per_call 8) + longest training on 1 GPU {max(t_min.values()):.1f} min = {built:.0f} min")
            # with data-parallel training (not built): each training over its share of the GPUs
            # at most batch_size GPUs per training (one sequence per GPU per step keeps the global batch of 8)
            dp = min(gpus // 4, 8)
            t_par = max(t_min.values()) / (dp * args.dp_efficiency)
            print(f"  Ray backend + data-parallel training (not built), {gpus} GPUs: ideal {ideal:.0f} min; generation {g_par:.1f} min ({chunks} chunks at items_per_call 8) + longest training on {dp} GPUs {t_par:.1f} min = {g_par + t_par:.0f} min")
        totals[m] = one
        print(f"  FLOPs: training 6ND {6 * N * T:.2e} (what the product reports), generation 2N per token {2 * N * G:.2e}")
    all_min = sum(totals.values())
    print(f"\nall three models: {all_min:.0f} GPU-min; ideal {all_min / 8 / 60:.1f} h on 8 GPUs, {all_min / 64:.0f} min on 64")


if __name__ == "__main__":
    main()