"""Every request and response body of the worker's HTTP contract, in one place.

Field names are snake_case and are the wire names. The TypeScript client is written from
these models (and from the exported OpenAPI document ``openapi/worker.json``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
TRAINING_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]
TrainingState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- shared pieces


class Message(_Strict):
    role: Role
    content: str


class _Context(_Strict):
    """A context given either as chat messages (rendered with the chat template and a
    generation prompt) or as a raw prompt string — exactly one of the two."""

    messages: Annotated[list[Message], Field(min_length=1)] | None = None
    prompt: str | None = None
    adapter: Annotated[str, Field(pattern=ADAPTER_NAME_PATTERN)] | None = Field(
        default=None, description="LoRA adapter name; null or absent = the base model."
    )

    @model_validator(mode="after")
    def _exactly_one_context(self) -> "_Context":
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'messages' and 'prompt'")
        return self


# ---------------------------------------------------------------- generate


class GenerateRequestItem(_Context):
    n: int = Field(default=1, ge=1, le=64, description="Completions to sample for this request.")
    temperature: float = Field(default=1.0, ge=0.0, le=2.0, description="0 = greedy.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    stop: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=8)] | None = None
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    top_logprobs: int = Field(
        default=0,
        ge=0,
        le=20,
        description=(
            "For context distillation: with k > 0, each completion lists its generated tokens, each with its "
            "log-probability and the k most likely tokens with theirs (float32, from the model's distribution "
            "before temperature and top-p)."
        ),
    )


class GenerateRequest(_Strict):
    model: str | None = Field(default=None, description="Must equal the loaded model's id if given.")
    requests: Annotated[list[GenerateRequestItem], Field(min_length=1, max_length=512)]


class TokenLogprobs(BaseModel):
    id: int = Field(description="The generated token.")
    logprob: float = Field(description="Its log-probability.")
    top: list[tuple[int, float]] = Field(description="The k most likely tokens at this step, as [id, log-probability], most likely first.")


class Completion(BaseModel):
    text: str
    finish_reason: FinishReason
    completion_tokens: int
    tokens: list[TokenLogprobs] | None = Field(
        default=None, description="With top_logprobs > 0: every generated token (EOS included; before any stop-string cut)."
    )


class GenerateResult(BaseModel):
    index: int
    prompt_tokens: int
    completions: list[Completion]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class GenerateResponse(BaseModel):
    model: str
    results: list[GenerateResult]
    usage: Usage
    elapsed_s: float


# ---------------------------------------------------------------- score


ScoreStrategy = Literal["shared_prefix", "per_sequence"]


class ScoreItem(_Context):
    # long enough for a whole reasoning answer: evaluation forces a final letter after one
    prefix: Annotated[str, Field(max_length=100_000)] | None = Field(
        default=None,
        description=(
            "Text that follows the context before every continuation (with `messages`: the start of "
            "the assistant's reply, e.g. 'The answer is'). Part of the shared prefix: not scored."
        ),
    )
    continuations: Annotated[list[str], Field(min_length=1, max_length=16)]


class ScoreRequest(_Strict):
    model: str | None = None
    items: Annotated[list[ScoreItem], Field(min_length=1, max_length=1024)]
    strategy: ScoreStrategy = Field(
        default="shared_prefix",
        description=(
            "shared_prefix: each item's context (+ prefix) is computed once and its continuations "
            "reuse it; per_sequence: every continuation re-reads the whole context (the old path, "
            "kept for benchmarks and parity checks). Both give the same log-probabilities up to "
            "floating-point rounding; log-softmax is taken over float32 logits."
        ),
    )


class Score(BaseModel):
    logprob: float = Field(description="Sum of the continuation tokens' log-probabilities.")
    tokens: int = Field(description="Number of continuation tokens.")


class ScoreResult(BaseModel):
    index: int
    scores: list[Score]


class ScoreResponse(BaseModel):
    model: str
    results: list[ScoreResult]
    elapsed_s: float


# ---------------------------------------------------------------- training


class LoraSettings(_Strict):
    r: int = Field(default=16, ge=1, le=512)
    alpha: int = Field(default=32, ge=1, le=8192)
    dropout: float = Field(default=0.05, ge=0.0, le=0.9)
    target_modules: Literal["all-linear"] | Annotated[list[str], Field(min_length=1)] = "all-linear"


class DistillTarget(_Strict):
    """What a teacher generated for the conversation's last assistant turn, for context distillation
    (``objective: distill``). The checks that need the model or the whole request (ids in the
    vocabulary, one ``top`` list per token, ``k`` entries each, one ``k`` per request) answer 400
    naming the field."""

    token_ids: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=32768)] = Field(
        description="The teacher's generated tokens (EOS included), as /v1/generate listed them: the student reads exactly these ids, never re-tokenised text."
    )
    top: list[list[tuple[Annotated[int, Field(ge=0)], float]]] = Field(
        description="Per token, the teacher's k most likely tokens as [id, log-probability] (/v1/generate's tokens[].top)."
    )
    k: int = Field(ge=1, le=20, description="The teacher's top-k (every `top` list has k entries).")


class TrainingExample(_Strict):
    messages: Annotated[list[Message], Field(min_length=1)]
    distill: DistillTarget | None = Field(
        default=None,
        description=(
            "objective distill: the teacher's tokens and top-k log-probabilities for the last message, which must be "
            "the assistant's; the student reads the conversation before it (chat template, generation prompt), then "
            "the teacher's ids, and is trained on forward KL to the teacher's top-k at each of them. Its `content` "
            "is kept for the record only."
        ),
    )


class TrainingRequest(_Strict):
    training_id: Annotated[str, Field(pattern=TRAINING_ID_PATTERN)] | None = Field(
        default=None,
        description="Client-chosen id for idempotency: an existing training with this id is returned (200).",
    )
    base_model: str | None = Field(default=None, description="Must be the loaded model if given.")
    adapter_name: Annotated[str, Field(pattern=ADAPTER_NAME_PATTERN)]
    examples: Annotated[list[TrainingExample], Field(min_length=1, max_length=200_000)]
    loss_on: Literal["assistant", "all"] = "assistant"
    objective: Literal["sft", "distill"] = Field(
        default="sft",
        description=(
            "sft: cross-entropy on the labelled tokens (loss_on); examples must not carry `distill` targets. "
            "distill (context distillation): examples with `distill` targets are trained on forward KL to the "
            "teacher's top-k (renormalised over the k tokens), the others on cross-entropy, all averaged per "
            "target token; at least one example must carry targets."
        ),
    )
    lora: LoraSettings = Field(default_factory=LoraSettings)
    learning_rate: float = Field(default=1e-4, gt=0.0, le=1.0)
    lr_scheduler: Literal["linear", "cosine", "constant"] = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, le=0.5)
    epochs: int = Field(default=1, ge=1, le=100)
    batch_size: int = Field(default=4, ge=1, le=512)
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    max_seq_len: int = Field(default=1024, ge=16, le=32768)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    overwrite: bool = False
    lease_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description=(
            "Fencing: the training cancels itself (error `lease expired`) when nobody has asked for its "
            "status (GET /v1/trainings/{id}) for this many seconds, e.g. a dispatcher that gave the job to "
            "another worker while this one was unreachable. null: no lease."
        ),
    )
    gradient_checkpointing: bool | None = Field(
        default=None,
        description=(
            "Recompute each decoder layer in backward instead of keeping its activations (less memory, "
            "~30% more compute). null = auto: on when the activations would take more than 1 GiB."
        ),
    )
    token_budget: int | None = Field(
        default=None,
        ge=1,
        le=10**10,
        description=(
            "Matched compute: the tokens one epoch trains on. The examples are repeated (a small set) or "
            "subsampled (a large one), in seeded order, until the next would pass the budget; at least one. "
            "null: every example once per epoch."
        ),
    )


class LossPoint(BaseModel):
    step: int
    loss: float
    learning_rate: float
    tokens_seen: int
    elapsed_s: float


class AdapterManifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    base_model: str
    base_model_path: str
    created_at: str
    lora: dict[str, Any]
    hyperparameters: dict[str, Any]
    data_sha256: str
    examples: int
    tokens_trained: int
    final_loss: float | None
    trainable_params: int
    total_params: int
    elapsed_s: float
    training_id: str | None


class TrainingStatus(BaseModel):
    id: str
    adapter_name: str
    base_model: str
    state: TrainingState
    step: int
    total_steps: int
    epoch: float
    loss: float | None
    loss_history: list[LossPoint]
    learning_rate: float
    tokens_seen: int
    tokens_per_s: float
    elapsed_s: float
    trainable_params: int
    total_params: int
    gradient_checkpointing: bool = Field(description="Whether this training recomputes activations in backward.")
    memory_estimate_bytes: int | None = Field(
        description="The pre-flight estimate of what the training adds beside the loaded model (null: not estimated)."
    )
    error: str | None
    adapter: AdapterManifest | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class TrainingList(BaseModel):
    data: list[TrainingStatus]


class AdapterList(BaseModel):
    data: list[AdapterManifest]


# ---------------------------------------------------------------- info, health, errors


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ModelInfo(BaseModel):
    id: str
    path: str


class TrainingRef(BaseModel):
    id: str
    state: TrainingState


class Info(BaseModel):
    engine: str
    device: str
    dtype: str
    model: ModelInfo
    adapters: list[str]
    training: TrainingRef | None
    max_batch: int
    version: str


class FieldError(BaseModel):
    path: str = Field(description="JSON pointer into the request body, e.g. /requests/0/max_tokens")
    message: str


class Problem(BaseModel):
    """``application/problem+json`` error body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[FieldError] | None = None
