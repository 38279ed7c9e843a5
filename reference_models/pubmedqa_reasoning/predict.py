"""Reference submission for pubmedqa-reasoning: a small transformer encoder in plain PyTorch.

``predict(model, inputs)`` takes one dict per case, ``{"question", "contexts",
"context_labels"}`` (the abstract without its conclusion), and returns an (n_cases, 3)
array of probabilities in the order yes, no, maybe.  The text goes in as the question, a
separator, then the paragraphs, each after its section label ("[CLS] question [SEP]
background: ... results: ... [SEP]"); a case longer than ``MAX_TOKENS`` loses the start of
its paragraphs, not the end, because the results, the last paragraph, are what the answer
rests on.  The byte-level BPE vocabulary was learnt from the training text only and
travels as ``tokenizer.json`` beside ``model.pt``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from tokenizers.processors import TemplateProcessing
from torch import nn
from torch.nn import functional as F

WEIGHTS_FILE = "model.pt"
TOKENIZER_FILE = "tokenizer.json"
#: The classes, in the order of the output's columns.
DECISIONS = ("yes", "no", "maybe")
#: Tokens per case, the question and both separators included.
MAX_TOKENS = 128
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parse_cases(inputs: Iterable[Mapping[str, object] | str | bytes]) -> list[Mapping[str, object]]:
    """The cases as dicts: the sandbox passes dicts, a task's public split JSON strings."""
    return [json.loads(case) if isinstance(case, str | bytes) else case for case in inputs]


def case_text(case: Mapping[str, object]) -> tuple[str, str]:
    """(question, passage): the passage is every paragraph after its section label, so
    that the model can tell the results from the background."""
    contexts = [str(text) for text in case["contexts"]]  # type: ignore[union-attr]
    labels = [str(label) for label in case.get("context_labels") or []]  # type: ignore[union-attr]
    labels += [""] * (len(contexts) - len(labels))
    passage = " ".join(
        f"{label}: {text}" if label else text for label, text in zip(labels, contexts, strict=False)
    )
    return str(case["question"]), passage


def configure_tokenizer(tokenizer: Tokenizer, max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The pair template, the truncation and the padding, set here rather than trusted from
    the file.  Truncation cuts from the left, the longer text first (the passage, unless a
    question outgrows it), so a long abstract keeps its results; each batch is padded to
    its longest case."""
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    tokenizer.enable_truncation(max_tokens, strategy="longest_first", direction="left")
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]")
    return tokenizer


def encode(
    tokenizer: Tokenizer, cases: list[Mapping[str, object]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and segment ids (0 question, 1 passage), both (n_cases, length) int64."""
    encodings = tokenizer.encode_batch([case_text(case) for case in cases])
    ids = torch.tensor([encoding.ids for encoding in encodings], dtype=torch.long)
    segments = torch.tensor([encoding.type_ids for encoding in encodings], dtype=torch.long)
    return ids, segments


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """The fixed sine/cosine position code of "Attention is all you need": nothing to learn
    from 400 abstracts, and every position has a code whether or not training saw it."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(1e4) / width))
    code = torch.zeros(length, width)
    code[:, 0::2] = torch.sin(position * frequency)
    code[:, 1::2] = torch.cos(position * frequency)
    return code


class EncoderBlock(nn.Module):
    """One pre-norm transformer layer, written out: multi-head self-attention, then a
    position-wise feed-forward network, each added back to its input.

    Dropout acts on the sub-layers' outputs, not on the attention weights: dropping
    attention weights costs a random mask as large as the attention matrix (most of a
    training step on a CPU) for little regularisation the other dropouts do not give.
    """

    def __init__(self, width: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.query_key_value = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.feedforward_norm = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(
            nn.Linear(width, feedforward),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(feedforward, width),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, states: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``states`` (batch, length, width); ``keep`` (batch, length), False at padding."""
        batch, length, width = states.shape
        query, key, value = (
            self.query_key_value(self.attention_norm(states))
            .view(batch, length, 3, self.heads, width // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        # softmax(q k^T / sqrt(d)) v per head; padding is never attended to.
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=keep[:, None, None])
        attended = attended.transpose(1, 2).reshape(batch, length, width)
        states = states + self.dropout(self.attention_out(attended))
        return states + self.dropout(self.feedforward(self.feedforward_norm(states)))


class QATransformer(nn.Module):
    """Token + segment embeddings and a sinusoidal position code, pre-norm transformer
    encoder blocks, masked mean pooling, a 3-way head.

    ``masked_lm_logits`` predicts tokens from the encoder's states through the (tied) token
    embeddings: the pre-training task that teaches the encoder the language of abstracts
    before the 400 labelled cases teach it the answers.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        max_tokens: int = MAX_TOKENS,
        width: int = 64,
        heads: int = 4,
        layers: int = 2,
        feedforward: int = 256,
        dropout: float = 0.1,
        head_dropout: float = 0.3,
        n_classes: int = len(DECISIONS),
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, width, padding_idx=PAD_ID)
        self.segments = nn.Embedding(2, width)
        self.register_buffer("positions", sinusoidal_positions(max_tokens, width), persistent=False)
        self.embedding_norm = nn.LayerNorm(width)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(width, heads, feedforward, dropout) for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(width, n_classes))
        self.lm_bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.tokens.weight, std=0.02)

    def states(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        """The encoder's output, (batch, length, width)."""
        keep = ids != PAD_ID
        embedded = self.tokens(ids) + self.segments(segments) + self.positions[: ids.shape[1]]
        states = self.embedding_dropout(self.embedding_norm(embedded))
        for block in self.blocks:
            states = block(states, keep)
        return self.final_norm(states)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        states = self.states(ids, segments)
        keep = (ids != PAD_ID).unsqueeze(-1).to(states.dtype)
        pooled = (states * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return self.head(pooled)

    def masked_lm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return states @ self.tokens.weight.T + self.lm_bias


@dataclass
class PubMedQAReader:
    """What ``load_model`` gives ``predict``: the tokenizer and the network."""

    tokenizer: Tokenizer
    network: QATransformer


def load_model(artifacts_dir: str) -> PubMedQAReader:
    folder = Path(artifacts_dir)
    tokenizer = configure_tokenizer(Tokenizer.from_file(str(folder / TOKENIZER_FILE)))
    network = QATransformer(tokenizer.get_vocab_size())
    state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return PubMedQAReader(tokenizer, network.to(device()).eval())


@torch.no_grad()
def predict_logits(reader: PubMedQAReader, cases: list[Mapping[str, object]]) -> torch.Tensor:
    """Float64 logits, (n_cases, 3), 64 cases at a time."""
    reader.network.eval()
    run_on = next(reader.network.parameters()).device
    chunks = [torch.zeros(0, len(DECISIONS), dtype=torch.float64)]
    for start in range(0, len(cases), 64):
        ids, segments = encode(reader.tokenizer, cases[start : start + 64])
        logits = reader.network(ids.to(run_on), segments.to(run_on))
        chunks.append(logits.double().cpu())
    return torch.cat(chunks)


def predict(model: PubMedQAReader, inputs: Iterable[Mapping[str, object] | str]) -> np.ndarray:
    probabilities = torch.softmax(predict_logits(model, parse_cases(inputs)), dim=1).numpy()
    # Softmax rows sum to 1 up to rounding; dividing again makes that exact to float64.
    return probabilities / probabilities.sum(axis=1, keepdims=True)
