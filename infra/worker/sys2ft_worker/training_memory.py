"""Memory of LoRA training: one copy of the base weights, an estimate before a training starts.

The serving engine's base weights are moved into shared memory once (``share_base_weights``);
a training process receives them as shared tensors and builds its model around them
(``model_from_shared``), so training adds its activations and the LoRA state, never a second
copy of the model. The training runs in a child process that exits when it ends, so everything
it allocated goes back to the system (a thread would leave it fragmented in this process).

``estimate_training_bytes`` is the pre-flight check: a training whose estimate does not fit the
memory available answers an error before it starts instead of being killed by the kernel
half-way. The per-token activation factors are an upper bound fitted to measured peaks of Qwen2
models on the CPU (see bench/worker/bench_memory.py), not a derivation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

GiB = 1024**3

# Bytes kept for backward per token and decoder layer, in units of the dtype's size:
# without checkpointing every layer keeps its norms, projections, LoRA dropout copies and MLP
# intermediates (~12 hidden + 6 intermediate values); with checkpointing only the layer's input.
_SAVED_PER_TOKEN_LAYER = {False: (12, 6), True: (1, 0)}
LOSS_CHUNK = 256  # positions whose float32 logits exist at once in the loss (recomputed in backward)
PROCESS_OVERHEAD = int(0.6 * GiB)  # interpreter, torch and transformers in the training process


@dataclass(frozen=True)
class SharedWeights:
    """A model's parameters and buffers laid out in one shared-memory buffer: one file
    descriptor crosses into the training process however many tensors the model has."""

    buffer: Any  # torch.uint8 tensor in shared memory
    layout: tuple[tuple[str, int, str, tuple[int, ...]], ...]  # (name, byte offset, dtype, shape)

    def tensors(self) -> dict[str, Any]:
        import torch

        out = {}
        for name, offset, dtype, shape in self.layout:
            dt = getattr(torch, dtype)
            n = math.prod(shape) * torch.empty((), dtype=dt).element_size()
            out[name] = self.buffer[offset : offset + n].view(dt).view(shape)
        return out


def share_base_weights(model: Any) -> SharedWeights:
    """Move the model's parameters and buffers (in place, one at a time) into one shared
    buffer; tied parameters are laid out once and listed under every name."""
    import torch

    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    placed: dict[int, int] = {}
    layout: list[tuple[str, int, str, tuple[int, ...]]] = []
    total = 0
    for name, t in named:
        key = id(t)
        if key not in placed:
            placed[key] = total
            total += -(-t.numel() * t.element_size() // 64) * 64  # 64-byte aligned
        layout.append((name, placed[key], str(t.dtype).removeprefix("torch."), tuple(t.shape)))
    buffer = torch.empty(max(total, 1), dtype=torch.uint8).share_memory_()
    shared = SharedWeights(buffer, tuple(layout))
    views = shared.tensors()
    done: set[int] = set()
    for name, t in named:
        if id(t) in done:
            continue
        done.add(id(t))
        views[name].copy_(t.data)
        t.data = views[name]  # the private copy is freed here
    return shared


def model_from_shared(path: str, dtype: Any, shared: SharedWeights) -> Any:
    """The causal LM of ``path`` built on the meta device, its tensors then set to views of the
    shared buffer (nothing read from disk, nothing copied). Tied names share one ``Parameter``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tensors = shared.tensors()
    offsets = {name: off for name, off, _, _ in shared.layout}
    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    params = dict(model.named_parameters(remove_duplicate=False))
    made: dict[int, torch.nn.Parameter] = {}
    missing = []
    for name in list(params) + [n for n, _ in model.named_buffers(remove_duplicate=False)]:
        if name not in tensors:
            missing.append(name)
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        if name in params:
            made.setdefault(offsets[name], torch.nn.Parameter(tensors[name], requires_grad=False))
            owner._parameters[attr] = made[offsets[name]]
        else:
            owner._buffers[attr] = tensors[name]
    if missing:
        raise RuntimeError(f"shared weights lack {len(missing)} tensors, e.g. {missing[:3]}")
    return model.eval()


@dataclass(frozen=True)
class TrainingEstimate:
    total_bytes: int
    parts: dict[str, int]

    def describe(self) -> str:
        return ", ".join(f"{k} {v / GiB:.2f}" for k, v in self.parts.items()) + " GiB"


def lora_trainable_params(model: Any, r: int, target_modules: Any) -> int:
    """LoRA parameters r·(in + out) of every linear layer the target selects (``all-linear``:
    every ``nn.Linear`` but the output layer)."""
    import torch

    head = model.get_output_embeddings()
    names = None if target_modules == "all-linear" else set(target_modules)
    total = 0
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear) or mod is head or ".lora_" in name:
            continue
        if names is not None and name.rsplit(".", 1)[-1] not in names:
            continue
        total += r * (mod.in_features + mod.out_features)
    return total


def estimate_training_bytes(
    config: Any, *, batch_size: int, max_seq_len: int, dtype_bytes: int, lora_params: int, checkpointing: bool
) -> TrainingEstimate:
    """Upper-bound memory a training process adds beside the shared base weights."""
    hidden = int(config.hidden_size)
    inter = int(getattr(config, "intermediate_size", 4 * hidden))
    layers = int(config.num_hidden_layers)
    vocab = int(config.vocab_size)
    heads = int(config.num_attention_heads)
    tokens = batch_size * max_seq_len
    a, b = _SAVED_PER_TOKEN_LAYER[checkpointing]
    saved = tokens * layers * (a * hidden + b * inter) * dtype_bytes
    # one layer recomputed (checkpointing) or the attention scores of one layer (eager/sdpa math)
    transient = tokens * (12 * hidden + 6 * inter) * dtype_bytes if checkpointing else 0
    attention = batch_size * heads * max_seq_len * max_seq_len * 4
    loss = min(tokens, LOSS_CHUNK) * vocab * (dtype_bytes + 4 + 4)  # logits, float32 copy, its grad
    lora_state = lora_params * 16  # weight, grad, two AdamW moments, float32
    parts = {
        "activations": saved + transient,
        "attention": attention,
        "loss": loss,
        "lora+optimizer": lora_state,
        "process": PROCESS_OVERHEAD,
    }
    return TrainingEstimate(sum(parts.values()), parts)


def available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)
