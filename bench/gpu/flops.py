"""Model FLOPs utilisation of LoRA training: the arithmetic, apart from any GPU so it is tested on the CPU.

FLOPs per trained token of a decoder with N_frozen frozen and N_lora trainable weights
(multiply-add = 2 FLOPs):
- forward: 2 per weight (N_frozen + N_lora);
- backward, gradients of the activations: 2 per weight, frozen or not (they flow through all layers);
- backward, gradients of the weights: 2 per *trainable* weight only (the frozen base gets none);
- attention scores and values (QK^T and AV): 2·2·d_model·T per layer forward for a token that
  attends to T positions; causal masking averages T to seq_len/2; the backward pass doubles it again.
So F = 4·N_frozen + 6·N_lora + 6·n_layers·d_model·seq_len. (Full fine-tuning would be the usual
6·N + attention; a LoRA run at the same tokens/s has a lower MFU by this count, which is honest: the
work that LoRA skips is not counted as done.) MFU = F · tokens/s / peak FLOP/s.
"""

from __future__ import annotations

# Dense bf16 tensor-core peak, FLOP/s (vendor data sheets, without sparsity).
PEAK_BF16_FLOPS: dict[str, float] = {
    "H200": 989.4e12,
    "H100": 989.4e12,
    "A100": 312e12,
}


def lora_train_flops_per_token(n_frozen: int, n_lora: int, n_layers: int, d_model: int, seq_len: int) -> float:
    if min(n_frozen, n_layers, d_model, seq_len) <= 0 or n_lora < 0:
        raise ValueError("parameter counts, layers, width and sequence length must be positive")
    return 4.0 * n_frozen + 6.0 * n_lora + 6.0 * n_layers * d_model * seq_len


def mfu(flops_per_token: float, tokens_per_s: float, peak_flops: float) -> float:
    if peak_flops <= 0:
        raise ValueError("peak FLOP/s must be positive")
    return flops_per_token * tokens_per_s / peak_flops


def peak_for(device_name: str) -> float | None:
    """The peak of a GPU named like ``NVIDIA H200`` (None when unknown, e.g. a CPU)."""
    upper = device_name.upper()
    for key, value in PEAK_BF16_FLOPS.items():
        if key in upper:
            return value
    return None
