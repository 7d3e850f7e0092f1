"""Training prompts come from the graph's own front nodes, with the pair itself kept out of the context."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from nodes.generate_sql import model_prompt
from tools.prompts import END, START
from training.contextualize import choose, front_state, main, training_pair, without_answer


def test_training_prompt_is_the_inference_prompt(sales_db: Path) -> None:
    question, sql = "How many stores are in the West region?", "SELECT COUNT(*) FROM stores WHERE region = 'West'"
    pair = training_pair(question, sql, str(sales_db))
    state = front_state(question, str(sales_db))
    # Same nodes, same builder: the only possible difference is the examples removed for the pair itself.
    state = dataclasses.replace(state, retrieved=without_answer(state.retrieved, question, sql, drop_same_sql=True))
    inference_without_examples = model_prompt(dataclasses.replace(
        state, retrieved={**state.retrieved, "examples": []}))
    assert pair["prompt"].startswith(f"{START}user\n")
    assert pair["prompt"].endswith(f"Question: {question}{END}\n{START}model\n")
    assert "Context:\nRelevant tables: stores" in pair["prompt"]
    assert "West" in pair["prompt"].split("Context:")[1]
    assert pair["completion"] == sql + END
    assert inference_without_examples.split("Context:")[0] == pair["prompt"].split("Context:")[0]


def test_the_pair_never_sees_itself_as_an_example() -> None:
    retrieved = {"tables": ["sales"], "examples": [
        {"question": "Revenue in 2023?", "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023"},
        {"question": "What was 2023 revenue", "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023"},
        {"question": "Revenue in 2022", "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2022"},
    ]}
    gold = "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023;"
    kept = without_answer(retrieved, "revenue in  2023?", gold, drop_same_sql=False)["examples"]
    assert [e["question"] for e in kept] == ["What was 2023 revenue", "Revenue in 2022"]
    kept = without_answer(retrieved, "revenue in  2023?", gold, drop_same_sql=True)["examples"]
    assert [e["question"] for e in kept] == ["Revenue in 2022"]
    assert retrieved["examples"][0]["question"] == "Revenue in 2023?"  # the input is left as it was


def test_choose_follows_the_mix_and_spreads_over_templates() -> None:
    records = [{"question": f"q{i}", "sql": "s", "db": "sales", "source": "sales", "template": f"t{i % 4}"}
               for i in range(400)]
    records += [{"question": f"d{i}", "sql": "s", "db": "hr", "source": "domain:hr", "template": "d"} for i in range(50)]
    picked = choose(records, {"sales": 0.75, "domain": 0.25}, 40)
    assert len(picked) == 40
    assert sum(r["source"] == "sales" for r in picked) == 30
    assert {r["template"] for r in picked if r["source"] == "sales"} == {"t0", "t1", "t2", "t3"}
    assert choose(records, {"sales": 0.75, "domain": 0.25}, 40) == picked  # deterministic


def test_choose_guarantees_a_share_of_unfiltered_pairs() -> None:
    records = [{"question": f"q{i}", "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023",
                "db": "sales", "source": "sales", "template": f"t{i % 4}"} for i in range(380)]
    records += [{"question": f"p{i}", "sql": "SELECT region, SUM(amount) FROM sales GROUP BY region",
                 "db": "sales", "source": "sales", "template": f"t{i % 4}"} for i in range(20)]
    plain = lambda rows: sum(" WHERE " not in r["sql"] for r in rows)  # noqa: E731
    assert plain(choose(records, {"sales": 1.0}, 100)) < 20
    picked = choose(records, {"sales": 1.0}, 100, unfiltered=0.3)
    assert len(picked) == 100 and plain(picked) == 20  # all there are: fewer than 30 exist
    assert plain(choose(records, {"sales": 1.0}, 40, unfiltered=0.25)) == 10
    assert len({r["question"] for r in picked}) == 100  # none picked twice


def test_command_writes_prompt_completion_lines(sales_db: Path, tmp_path: Path) -> None:
    data = tmp_path / "pairs_train.jsonl"
    rows = [{"question": "Total revenue in 2023", "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023",
             "db": "sales", "source": "sales", "template": "total"},
            {"question": "How many products are there?", "sql": "SELECT COUNT(*) FROM products",
             "db": "sales", "source": "sales", "template": "count"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "pairs_dbs.json").write_text(json.dumps({"sales": str(sales_db)}))
    out = tmp_path / "out.jsonl"
    assert main(["--data", str(data), "--out", str(out), "--n", "2", "--mix", "sales=1"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["completion"] for line in lines) == sorted(r["sql"] + END for r in rows)
    assert all(line["prompt"].endswith(f"{START}model\n") for line in lines)
