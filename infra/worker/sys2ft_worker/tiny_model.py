"""A tiny random Qwen2 model with a locally trained byte-level BPE tokenizer, for tests.

Built in seconds with no download; deterministic (seeded). The chat template is Qwen's
``<|im_start|>role\\n…<|im_end|>\\n`` format with the same special tokens.

CLI: ``python -m sys2ft_worker.tiny_model --out DIR``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

TINY_MARKER = ".sys2ft-tiny-complete"
TINY_VERSION = 1
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 1536
# Attention shapes of each tiny variant (name -> query heads, key/value heads; hidden size 64).
# vLLM's CPU attention kernels need a head size of at least 32, so its tests use "tiny-qwen2-h32".
TINY_VARIANTS: dict[str, tuple[int, int]] = {"tiny-qwen2": (4, 2), "tiny-qwen2-h32": (2, 1)}

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_CORPUS = """
The quick brown fox jumps over the lazy dog. A language model reads text and predicts the next word.
New news arrives every day: scientists discover a new planet, a team wins the championship, and a
mathematician defines a new operation on two numbers. The operation takes a and b and returns a times
b plus a. What is the value of the operation on three and four? It is fifteen.
System two fine-tuning teaches a model new facts. The model reads the news in its context, writes
paraphrases, implications and questions with answers, and is then trained on them without the news.
Questions and answers: What is the capital of France? The capital of France is Paris. Who wrote the
program? The engineer wrote the program in Python. How many legs does a spider have? Eight legs.
Coding news: a new programming language called Zeta uses the keyword fn to define functions and the
keyword let to define variables. Leaderboards change when a new model scores higher on a benchmark.
Events happen in cities around the world: concerts, festivals, elections, sports games and meetings.
The weather today is sunny with a light wind from the west. Tomorrow it may rain in the afternoon.
Numbers: zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred.
0 1 2 3 4 5 6 7 8 9 10 11 12 42 100 2025 2026 + - * / = ( ) [ ] { } < > : ; , . ! ? ' " # @ % & _
The assistant answers the user politely and correctly. The user asks a question; the assistant replies.
"""


def _pseudo_words(seed: int) -> list[str]:
    """Deterministic made-up words, so the BPE learns a vocabulary of ~1500 tokens."""
    import random

    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    return [
        " ".join("".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(12))
        for _ in range(300)
    ]


def build_tiny_model(out_dir: Path | str, *, seed: int = 0, variant: str = "tiny-qwen2") -> Path:
    """Build the tiny model into ``out_dir`` (replaced atomically) and return the directory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out.parent))
    try:
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB_SIZE,
            min_frequency=1,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        lines = [ln for ln in _CORPUS.strip().splitlines() if ln.strip()] + _pseudo_words(seed)
        bpe.train_from_iterator(lines * 4, trainer=trainer)
        tok = PreTrainedTokenizerFast(
            tokenizer_object=bpe,
            bos_token=None,
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            unk_token=None,
            additional_special_tokens=["<|im_start|>", "<|im_end|>"],
            model_max_length=32768,
            padding_side="left",
        )
        tok.chat_template = CHAT_TEMPLATE
        tok.save_pretrained(tmp)

        torch.manual_seed(seed)
        heads, kv_heads = TINY_VARIANTS[variant]
        config = Qwen2Config(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            tie_word_embeddings=True,
            bos_token_id=None,
            eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
            pad_token_id=tok.pad_token_id,
        )
        model = Qwen2ForCausalLM(config)
        # Larger init than the default 0.02 so that the random model's distributions are
        # not nearly uniform (tests compare sampled and greedy outputs).
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, 0.2)
        model.generation_config.eos_token_id = [
            tok.convert_tokens_to_ids("<|im_end|>"),
            tok.convert_tokens_to_ids("<|endoftext|>"),
        ]
        model.generation_config.pad_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
        model.save_pretrained(tmp, safe_serialization=True)
        (tmp / TINY_MARKER).write_text(json.dumps({"version": TINY_VERSION, "seed": seed}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built tiny model in %s", out)
    return out


def is_tiny_model_complete(path: Path) -> bool:
    marker = path / TINY_MARKER
    if not marker.is_file():
        return False
    try:
        return int(json.loads(marker.read_text()).get("version", 0)) == TINY_VERSION
    except (ValueError, OSError):
        return False


def ensure_tiny_model(cache_dir: Path, variant: str = "tiny-qwen2") -> Path:
    path = Path(cache_dir) / variant
    if not is_tiny_model_complete(path):
        log.info("building the tiny test model into %s", path)
        build_tiny_model(path, variant=variant)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the tiny random Qwen2 test model.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=sorted(TINY_VARIANTS), default="tiny-qwen2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    print(build_tiny_model(args.out, seed=args.seed, variant=args.variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
