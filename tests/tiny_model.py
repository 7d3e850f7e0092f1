"""A tiny random-weight Gemma 3 (and LoRA adapter) for tests that exercise the real loading code path.

The real Gemma tokenizer takes ~35 s to extract from the packaged GGUF and has 262k entries (a 17M
parameter embedding even for a tiny model), so the tests use a small byte-level BPE tokenizer instead:
it encodes any text, knows Gemma's special tokens (<pad>=0, <eos>=1, <bos>=2, <unk>=3, <start_of_turn>,
<end_of_turn>) and, like Gemma's, prepends <bos>. Both builders write ordinary save_pretrained folders,
so ``tools.model_store.load_model(path)`` loads them exactly like a converted real model.

Usage::

    from tiny_model import build_tiny_gemma, build_tiny_adapter   # tests/ is on sys.path under pytest
    model_dir = build_tiny_gemma(tmp_path / "gemma")
    adapter_dir = build_tiny_adapter(model_dir, tmp_path / "lora")
"""

from __future__ import annotations

from pathlib import Path

import torch

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

# Enough SQL and prompt text for BPE to learn merges for the common words; anything else still
# encodes byte by byte.
_CORPUS = [
    "You write one DuckDB SQL query that answers the question. Use only the tables and columns below.",
    "Schema:", "Context:", "Question:", "Previous SQL:", "Error:", "Write a corrected query.",
    "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY total DESC LIMIT 10;",
    "SELECT COUNT(*) FROM customers WHERE country = 'Germany';",
    "SELECT c.name, AVG(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.name;",
    "SELECT product, MAX(price) FROM products WHERE category IN ('a', 'b') HAVING MAX(price) > 100;",
    "WITH t AS (SELECT * FROM sales WHERE year = 2024) SELECT month, SUM(amount) FROM t GROUP BY month;",
    "CREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE, sold_at DATE)",
    "Binder Error: Referenced column \"regin\" not found in FROM clause!",
    "```sql\nSELECT 1;\n```",
    "<start_of_turn>user\nQuestion: how many orders?<end_of_turn>\n<start_of_turn>model\nSELECT COUNT(*) FROM orders<end_of_turn>",
]


def build_tiny_tokenizer(vocab_size: int = 512):
    """A PreTrainedTokenizerFast: byte-level BPE trained in milliseconds on a built-in SQL corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,  # ids 0..5 in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_CORPUS * 4, trainer)
    bos = core.token_to_id("<bos>")
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )


def build_tiny_gemma(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save a 2-layer, 64-wide random Gemma 3 with the tiny tokenizer to ``out_dir``; returns it."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from tools.model_store import greedy_generation_config

    out = Path(out_dir)
    tokenizer = build_tiny_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        query_pre_attn_scalar=32,
        max_position_embeddings=4096,
        sliding_window=128,
        layer_types=["sliding_attention", "full_attention"],  # both attention kinds, like the real model
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config).to(torch.float32).eval()
    # The same greedy generation config the real conversion writes.
    model.generation_config = greedy_generation_config(tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_adapter(model_dir: str | Path, out_dir: str | Path, *, seed: int = 1) -> Path:
    """Save a LoRA adapter (q_proj, v_proj) for the model in ``model_dir`` to ``out_dir``; returns it.

    LoRA normally starts with B = 0 (a no-op); here both matrices are random so that applying the
    adapter visibly changes the logits.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(out)
    return out
