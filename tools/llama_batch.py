"""Many prompts at once on llama.cpp: one forward pass decodes a token of every unfinished answer.

An evaluation asks dozens of questions of one database. Decoding one token of one answer per pass leaves
most of the arithmetic units idle; a pass over several positions costs little more than over one
(benchmarks/batching.py on two cores: 4 positions per pass 2.3x the tokens per second, 8 positions 2.9x).
So the questions' prompts go through one llama.cpp context with one sequence each: the prefix they share
(the schema) is computed once and shared by every sequence, then each prompt's own tokens, then every
step decodes the next token of each answer still running, greedily, with the same stops as one call.
Answers of one prompt that still agree token for token (self-consistency's candidates, while the model
is sure) take one position of a pass between them, and such a group's pass can also verify the tokens
its answer would copy from the prompt next, as a single call does (prompt-lookup drafts).

Greedy answers are those of one call per prompt up to rounding: a position computed in another batch can
break a near-tie the other way (see tools.llama_llm). Used by evaluation (``gemsql eval --batch N``);
the chat answers one question at a time.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tools.schema_constraint import SchemaConstraint, constrained_argmax

BATCH_CONTEXT_TOKENS = 8192
"""Cells of the unified KV cache shared by the batch: one shared prefix plus each prompt's rest and answer."""
BATCH_TOKENS = 512
"""Most tokens per forward pass while prefilling."""


class BatchContext:
    """A second llama.cpp context on an already loaded model, with ``n_seq`` sequences in a unified cache.

    Not locked itself: callers hold the model's lock (tools.llama_llm), which serialises all its contexts.
    """

    def __init__(self, llama: Any, n_seq: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = BATCH_CONTEXT_TOKENS
        params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # the shared prefix is stored once, whatever the number of sequences
        params.swa_full = True
        self.llama = llama
        self.n_seq = n_seq
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):  # llama.cpp notes its cache layout whatever verbose says
            self.ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self._prefix: list[int] = []
        """The tokens sequence 0 holds from the last call's shared prefix, for the next call to reuse."""
        self.batch = _internals.LlamaBatch(n_tokens=BATCH_TOKENS, embd=0, n_seq_max=n_seq, verbose=False)

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """One forward pass over (token, position, sequence, wants logits) items."""
        raw = self.batch.batch
        for i, (token, pos, seq, logits) in enumerate(items):
            raw.token[i], raw.pos[i], raw.n_seq_id[i], raw.logits[i] = token, pos, 1, logits
            raw.seq_id[i][0] = seq
        raw.n_tokens = len(items)
        self.ctx.decode(self.batch)

    def _row(self, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.ctx.get_logits_ith(index), shape=(self.llama.n_vocab(),))

    def generate(self, prompts: Sequence[Sequence[int]], should_stop, constraints: Sequence[SchemaConstraint | None],
                 piece, max_new_tokens: int,
                 pick: Callable[[int, np.ndarray, str], int] | None = None,
                 share_identical: bool = True, draft_tokens: int = 0) -> list[list[int]]:
        """Continuations of up to ``n_seq`` tokenised prompts, greedy unless ``pick`` chooses the tokens.

        ``should_stop(i, tokens)`` says when answer ``i`` is complete; ``piece(token)`` is a token's text
        (for the constraints). ``pick(i, logits, text)``, where given, chooses answer ``i``'s next token
        from its logits and its text so far (sampling, tools.self_consistency) instead of the constrained
        argmax. The same prompt may appear several times: while its answers have the same tokens, one
        pass position serves them all (``share_identical=False`` decodes every answer separately, the
        reference for tests and benchmarks). ``draft_tokens`` > 0: each pass also verifies up to that many
        tokens that the answer would copy from its prompt next (tools.llama_llm.prompt_lookup); an answer
        keeps those its own choices agree with. Returns the tokens of each answer.
        """
        from tools.llama_llm import prompt_lookup

        if len(prompts) > self.n_seq:
            raise ValueError(f"{len(prompts)} prompts for a batch of {self.n_seq}")
        # the last token of each prompt is its own: its logits start the answer
        shared = min(min(self.llama.longest_token_prefix(prompts[0], p) for p in prompts),
                     min(len(p) for p in prompts) - 1)
        if (shared + sum(len(p) - shared for p in prompts) + len(prompts) * (max_new_tokens + max(draft_tokens, 0))
                > BATCH_CONTEXT_TOKENS):
            raise ValueError("the prompts and their answers do not fit the batch context")
        if pick is None:
            def pick(seq: int, logits: np.ndarray, text: str) -> int:
                return constrained_argmax(logits, text, piece, constraints[seq])
        # Sequence 0 still holds the previous call's shared prefix: keep what this call shares with it (the
        # schema part of a prompt, all of it when the same prompt is sampled again), drop everything else.
        kept = self.llama.longest_token_prefix(self._prefix, prompts[0][:shared])
        self._prefix = []
        for seq in range(1, self.n_seq):
            self.ctx.kv_cache_seq_rm(seq, 0, -1)
        self.ctx.kv_cache_seq_rm(0, kept, -1)
        for start in range(kept, shared, BATCH_TOKENS):  # the rest of the shared prefix, once, in sequence 0
            end = min(start + BATCH_TOKENS, shared)
            self._decode([(t, start + j, 0, False) for j, t in enumerate(prompts[0][start:end])])
        self._prefix = list(prompts[0][:shared])
        for seq in range(1, len(prompts)):
            self.ctx.kv_cache_seq_cp(0, seq, 0, shared)

        # Answers with the same tokens so far (the same prompt sampled again, while its samples agree) have
        # the same logits: only the first of each such group is decoded, the others pick their tokens from
        # its rows. A member that picks another token leaves the group with a copy of its cache (shared
        # cells, no arithmetic) and is decoded on its own from then on. A sure model's five candidates
        # then cost one answer's passes, not five.
        groups: list[list[int]] = []
        for seq, p in enumerate(prompts):
            same = next((g for g in groups if share_identical and prompts[g[0]] == p), None)
            if same is None:
                groups.append([seq])
            else:
                same.append(seq)
        answers: list[list[int]] = [[] for _ in prompts]
        texts = [""] * len(prompts)
        position = {seq: len(p) for seq, p in enumerate(prompts)}
        """Where each answer's next token goes; the cache of its group's first member holds all before it."""

        def follow(member: int, index: int, draft: list[int]) -> tuple[tuple[int, ...], bool]:
            """Answer ``member`` takes its tokens from the rows from ``index`` on, while they follow ``draft``:
            (the tokens it took, is it done)."""
            tokens: list[int] = []
            for j in range(len(draft) + 1):
                token = pick(member, self._row(index + j), texts[member])
                tokens.append(token)
                answers[member].append(token)
                texts[member] += piece(token)
                done = should_stop(member, answers[member]) or len(answers[member]) >= max_new_tokens
                if done or j == len(draft) or token != draft[j]:
                    break
            return tuple(tokens), done

        group_of = {g[0]: g for g in groups}
        pending = [(t, pos, seq, pos == len(p) - 1) for seq, p in enumerate(prompts) if seq in group_of
                   for pos, t in enumerate(p) if pos >= shared]
        firsts: dict[int, tuple[tuple[int, ...], bool]] = {}
        for start in range(0, len(pending), BATCH_TOKENS):  # each prompt's own tokens, packed together
            chunk = pending[start:start + BATCH_TOKENS]
            self._decode(chunk)
            for index, (_, _, seq, last) in enumerate(chunk):
                if last:
                    for member in group_of[seq]:
                        firsts[member] = follow(member, index, [])
        running = self._regroup(groups, firsts, position, shared)

        while running:
            # one pass: each group's last token, then the tokens its answer would copy from its prompt next
            items, drafts = [], []
            for group in running:
                first = group[0]
                room = min(draft_tokens, max_new_tokens - len(answers[first]) - 1)
                draft = prompt_lookup([*prompts[first], *answers[first]], room) if room > 0 else []
                drafts.append(draft)
                items += [(token, position[first] + j, first, True)
                          for j, token in enumerate([answers[first][-1], *draft])]
            if len(items) > BATCH_TOKENS:
                raise ValueError("more positions in one pass than the batch holds")
            self._decode(items)
            for group in running:
                for member in group:
                    position[member] += 1
            taken: dict[int, tuple[tuple[int, ...], bool]] = {}
            index = 0
            for group, draft in zip(running, drafts):
                for member in group:
                    taken[member] = follow(member, index, draft)
                index += len(draft) + 1
            running = self._regroup(running, taken, position, shared)
        return answers

    def _regroup(self, groups: list[list[int]], taken: dict[int, tuple[tuple[int, ...], bool]],
                 position: dict[int, int], shared: int) -> list[list[int]]:
        """The groups that go on, after their members took these tokens, parted by what each took.

        ``taken[member]`` is (the tokens it added, is it done); ``position`` is where the first of them
        went, and all but the last were decoded there and after (the draft it followed), so a part's
        next token goes where its last one does. A new part's first member gets the cache cells before
        that from the old first member, which then drops the cells of any draft it did not follow.
        """
        out: list[list[int]] = []
        for group in groups:
            first = group[0]
            base = position[first]
            parts: dict[tuple[int, ...], list[int]] = {}
            for member in group:
                parts.setdefault(taken[member][0], []).append(member)
            keeps_first = None
            for tokens, part in parts.items():
                end = base + len(tokens) - 1  # the part's next token goes here; the cache holds all before
                for member in part:
                    position[member] = end
                if part[0] != first:
                    self.ctx.kv_cache_seq_cp(first, part[0], shared, end)
                else:
                    keeps_first = end
                if not taken[part[0]][1]:
                    out.append(part)
            if keeps_first is not None:
                self.ctx.kv_cache_seq_rm(first, keeps_first, -1)
        return out
