"""all-MiniLM-L6-v2 sentence embeddings in numpy: the same vectors as sentence-transformers, without torch.

The knowledge base embeds one short question per answer. Through sentence-transformers that needs torch,
whose import alone costs seconds of a cold start, for a 6-layer, 384-wide BERT that numpy runs in a few
milliseconds. This module reads the model's own safetensors and tokenizer.json (the Rust ``tokenizers``
package) and computes exactly what sentence-transformers does for this model: BERT, mean pooling over the
real tokens, L2 normalisation; inputs truncated at 256 tokens. tests/test_minilm.py holds it to the
sentence-transformers vectors.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

BATCH = 64
"""Texts per forward pass; texts are sorted by length first, so a batch pads little."""


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf: scipy's for large arrays (a knowledge-base build), else Abramowitz & Stegun 7.1.26.

    The two agree to 1.5e-7, the size of float32 rounding; the polynomial keeps scipy's fifth of a second of
    import off a cold start that embeds one question, and scipy's single C loop is three times faster on
    the millions of values of a build.
    """
    if x.size >= 1 << 20:
        try:
            from scipy.special import erf

            return erf(x)
        except ImportError:  # pragma: no cover - scipy comes with the stack; the polynomial is as good
            pass
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


class MiniLM:
    """A BERT encoder with mean pooling, read from a sentence-transformers model folder."""

    def __init__(self, path: str | Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        st_config = path / "sentence_bert_config.json"
        max_length = json.loads(st_config.read_text()).get("max_seq_length", 256) if st_config.is_file() else 256
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()
                        if not k.endswith("position_ids")}
        # Linear layers as (in, out), contiguous: a 2-D matmul on them is one BLAS call.
        for name in [k for k in self.weights if k.startswith("encoder.") and k.endswith(".weight")
                     and self.weights[k].ndim == 2]:
            self.weights[name] = np.ascontiguousarray(self.weights[name].T)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.no_padding()

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.weights
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        width = x.shape[-1]
        head = width // self.heads
        # padding keys get -inf before the softmax (as BERT's extended attention mask does, in float32)
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def linear(h: np.ndarray, name: str) -> np.ndarray:
                flat = h.reshape(-1, h.shape[-1]) @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return flat.reshape(*h.shape[:-1], flat.shape[-1])

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(batch, length, self.heads, head).transpose(0, 2, 1, 3)

            q, k, v = (split(linear(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + key_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attention = (scores / scores.sum(-1, keepdims=True)) @ v
            attention = attention.transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = _layer_norm(linear(attention, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            hidden = _gelu(linear(x, "intermediate.dense"))
            x = _layer_norm(linear(hidden, "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        weights = mask[..., None].astype(np.float32)
        pooled = (x * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12, None)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.weights["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        out = np.zeros((len(texts), self.weights["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            length = max(len(encoded[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                n = len(encoded[i].ids)
                ids[row, :n] = encoded[i].ids
                mask[row, :n] = 1
            out[chunk] = self._encode(ids, mask)
        return out


class MiniLMEmbeddings(Embeddings):
    """The LangChain face of :class:`MiniLM` (what Chroma and the knowledge base call)."""

    def __init__(self, path: str | Path) -> None:
        self.model = MiniLM(path)
        self._lock = threading.Lock()  # numpy releases the GIL; one forward pass at a time keeps memory flat

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            return self.model.embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self.model.embed([text])[0].tolist()
