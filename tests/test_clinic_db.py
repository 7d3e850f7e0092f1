"""The evaluation's clinic database and its hand-written dev questions: schema, keys, determinism and gold SQL."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from evals.clinic_db import build_clinic_db, clinic_db_path, ensure_clinic_db

CASES_PATH = Path(__file__).resolve().parents[1] / "evals" / "cases" / "clinic_dev.jsonl"

EXPECTED_COLUMNS = {
    "clinics": [("clinic_id", "INTEGER"), ("clinic_name", "VARCHAR"), ("city", "VARCHAR"), ("state", "VARCHAR"),
                ("opened_year", "INTEGER")],
    "doctors": [("doctor_id", "INTEGER"), ("full_name", "VARCHAR"), ("specialty", "VARCHAR"),
                ("clinic_id", "INTEGER"), ("hire_date", "DATE"), ("is_accepting_patients", "BOOLEAN")],
    "patients": [("patient_id", "INTEGER"), ("first_name", "VARCHAR"), ("last_name", "VARCHAR"),
                 ("birth_date", "DATE"), ("sex", "VARCHAR"), ("insurance_type", "VARCHAR"), ("home_city", "VARCHAR")],
    "appointments": [("appointment_id", "INTEGER"), ("patient_id", "INTEGER"), ("doctor_id", "INTEGER"),
                     ("appointment_date", "DATE"), ("status", "VARCHAR"), ("visit_type", "VARCHAR"),
                     ("fee", "DECIMAL(8,2)")],
    "prescriptions": [("prescription_id", "INTEGER"), ("appointment_id", "INTEGER"), ("drug_name", "VARCHAR"),
                      ("dosage_mg", "INTEGER"), ("days_supply", "INTEGER")],
}
# child table, column -> parent table, column
FOREIGN_KEYS = {
    ("doctors", "clinic_id"): ("clinics", "clinic_id"),
    ("appointments", "patient_id"): ("patients", "patient_id"),
    ("appointments", "doctor_id"): ("doctors", "doctor_id"),
    ("prescriptions", "appointment_id"): ("appointments", "appointment_id"),
}


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clinic_db(tmp_path_factory.mktemp("clinic") / "clinic.duckdb")


@pytest.fixture
def con(clinic_db: Path):
    connection = duckdb.connect(str(clinic_db), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    with CASES_PATH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _content_hash(path: Path) -> str:
    """Row count and an order-independent digest of every table (rows are unique by primary key)."""
    digest = hashlib.sha256()
    with duckdb.connect(str(path), read_only=True) as connection:
        for table in EXPECTED_COLUMNS:
            digest.update(repr(connection.execute(f"SELECT COUNT(*), bit_xor(hash(t)), SUM(hash(t)::HUGEINT) "
                                                  f"FROM {table} t").fetchall()).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- the database

def test_columns_names_types_and_order(con):
    for table, expected in EXPECTED_COLUMNS.items():
        actual = _rows(con, "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                            "ORDER BY column_index", [table])
        assert actual == expected, table
    assert {r[0] for r in _rows(con, "SELECT table_name FROM duckdb_tables()")} == set(EXPECTED_COLUMNS)


def test_every_table_and_column_has_a_comment(con):
    for table, comment in _rows(con, "SELECT table_name, comment FROM duckdb_tables()"):
        assert comment and comment.strip(), table
    columns = _rows(con, "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal")
    assert len(columns) == sum(len(c) for c in EXPECTED_COLUMNS.values())
    for table, column, comment in columns:
        assert comment and comment.strip(), f"{table}.{column}"


def test_primary_and_foreign_keys_are_declared(con):
    primary = {r[0]: r[1] for r in _rows(con, "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                                              "WHERE constraint_type = 'PRIMARY KEY'")}
    assert primary == {table: [columns[0][0]] for table, columns in EXPECTED_COLUMNS.items()}
    foreign = {(t, c[0]): (rt, rc[0]) for t, c, rt, rc in _rows(
        con, "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
             "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'")}
    assert foreign == FOREIGN_KEYS


def test_foreign_keys_hold(con):
    for (table, column), (parent, key) in FOREIGN_KEYS.items():
        orphans = _rows(con, f"SELECT COUNT(*) FROM {table} t WHERE t.{column} IS NULL OR NOT EXISTS "
                             f"(SELECT 1 FROM {parent} p WHERE p.{key} = t.{column})")[0][0]
        assert orphans == 0, f"{table}.{column}"


def test_sizes_and_domains(con):
    counts = {t: _rows(con, f"SELECT COUNT(*) FROM {t}")[0][0] for t in EXPECTED_COLUMNS}
    assert counts["clinics"] == 8 and counts["doctors"] == 40 and counts["patients"] == 3000
    assert counts["appointments"] == 25000 and 10_000 <= counts["prescriptions"] <= 14_000
    domains = {("doctors", "specialty"): {"Cardiology", "Dermatology", "Pediatrics", "Orthopedics",
                                          "General Practice", "Neurology"},
               ("patients", "sex"): {"F", "M"},
               ("patients", "insurance_type"): {"Private", "Medicare", "Medicaid", "Uninsured"},
               ("appointments", "status"): {"Completed", "Cancelled", "No-show"},
               ("appointments", "visit_type"): {"Checkup", "Follow-up", "Urgent", "Procedure"}}
    for (table, column), values in domains.items():
        assert {r[0] for r in _rows(con, f"SELECT DISTINCT {column} FROM {table}")} == values, column
    assert _rows(con, "SELECT MIN(appointment_date), MAX(appointment_date) FROM appointments")[0] \
        == tuple(_rows(con, "SELECT DATE '2023-01-02', DATE '2024-12-31'")[0])
    assert _rows(con, "SELECT COUNT(*) FROM appointments WHERE fee IS NULL OR fee <= 0")[0][0] == 0


def test_internal_consistency(con):
    # Prescriptions only at completed visits; nobody seen before birth or by a doctor not yet hired
    assert _rows(con, "SELECT COUNT(*) FROM prescriptions p JOIN appointments a USING (appointment_id) "
                      "WHERE a.status <> 'Completed'")[0][0] == 0
    assert _rows(con, "SELECT COUNT(*) FROM appointments a JOIN patients p USING (patient_id) "
                      "WHERE a.appointment_date < p.birth_date")[0][0] == 0
    assert _rows(con, "SELECT COUNT(*) FROM appointments a JOIN doctors d USING (doctor_id) "
                      "WHERE a.appointment_date < d.hire_date")[0][0] == 0
    assert _rows(con, "SELECT COUNT(*) FROM doctors d JOIN clinics c USING (clinic_id) "
                      "WHERE YEAR(d.hire_date) < c.opened_year")[0][0] == 0


def test_the_data_has_structure(con):
    no_show = dict(_rows(con, "SELECT p.insurance_type, AVG(CASE WHEN a.status = 'No-show' THEN 1 ELSE 0 END) "
                              "FROM appointments a JOIN patients p USING (patient_id) GROUP BY 1"))
    assert no_show["Uninsured"] > 2 * no_show["Private"] and no_show["Medicaid"] > 2 * no_show["Private"]
    winter, summer = _rows(con, "SELECT COUNT(*) FILTER (WHERE MONTH(appointment_date) IN (12, 1, 2)), "
                                "COUNT(*) FILTER (WHERE MONTH(appointment_date) IN (6, 7, 8)) FROM appointments a "
                                "JOIN doctors d USING (doctor_id) WHERE d.specialty IN ('General Practice', "
                                "'Pediatrics')")[0]
    assert winter > 1.3 * summer  # flu season
    fees = dict(_rows(con, "SELECT d.specialty, AVG(a.fee) FROM appointments a JOIN doctors d USING (doctor_id) "
                           "WHERE a.visit_type = 'Checkup' GROUP BY 1"))
    assert fees["Neurology"] > fees["Cardiology"] > fees["General Practice"] > fees["Pediatrics"]
    assert _rows(con, "SELECT COUNT(*) FROM patients p WHERE NOT EXISTS "
                      "(SELECT 1 FROM appointments a WHERE a.patient_id = p.patient_id)")[0][0] > 0


def test_build_is_deterministic_and_overwrites_only_when_asked(clinic_db: Path, tmp_path: Path):
    again = build_clinic_db(tmp_path / "again.duckdb")
    assert _content_hash(again) == _content_hash(clinic_db)
    with pytest.raises(FileExistsError):
        build_clinic_db(again)
    assert build_clinic_db(again, seed=8, overwrite=True) == again
    assert _content_hash(again) != _content_hash(clinic_db)
    assert [p.name for p in tmp_path.iterdir()] == ["again.duckdb"]  # no temp or WAL files left behind


def test_ensure_clinic_db_builds_once_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GEMSQL_HOME", str(tmp_path))
    path = ensure_clinic_db(progress=False)
    assert path == clinic_db_path() == tmp_path / "eval" / "clinic.duckdb" and path.is_file()
    stamp = path.stat().st_mtime_ns
    assert ensure_clinic_db(progress=False) == path and path.stat().st_mtime_ns == stamp


# ---------------------------------------------------------------------------------------------- the dev cases

def test_cases_are_well_formed(cases):
    assert len(cases) >= 60
    for case in cases:
        assert set(case) == {"question", "sql", "db", "hardness"}, case
        assert case["db"] == "clinic" and case["hardness"] in {"easy", "medium", "hard", "extra"}, case
        assert case["question"].strip() and case["sql"].strip()
    for level in ("easy", "medium", "hard", "extra"):
        assert sum(c["hardness"] == level for c in cases) >= 5, level


def test_questions_and_gold_sql_are_unique(cases):
    questions = [" ".join(c["question"].lower().split()) for c in cases]
    assert len(set(questions)) == len(questions)
    sqls = [" ".join(c["sql"].lower().rstrip("; ").split()) for c in cases]
    assert len(set(sqls)) == len(sqls)


def test_gold_sql_never_depends_on_the_current_date(cases):
    pattern = re.compile(r"current_date|current_timestamp|\bnow\s*\(|\btoday\s*\(|get_current", re.IGNORECASE)
    assert not [c["question"] for c in cases if pattern.search(c["sql"])]


def test_every_gold_sql_runs_and_returns_rows(con, cases):
    for case in cases:
        rows = con.execute(case["sql"]).fetchall()
        assert rows, case["question"]


def _order_keys(select: exp.Select) -> list[exp.Expression]:
    """The ORDER BY expressions of a SELECT, positional references replaced by the selected expression."""
    keys = []
    for ordered in select.args["order"].expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int:
            key = select.expressions[int(key.this) - 1]
            key = key.this if isinstance(key, exp.Alias) else key
        keys.append(key.copy())
    return keys


def test_ordered_gold_sql_has_no_ties_at_its_limit(con, cases):
    """Where a question asks for the top N, the (N+1)th row must not tie with the Nth on the sort keys."""
    checked = 0
    for case in cases:
        tree = sqlglot.parse_one(case["sql"], read="duckdb")
        if not isinstance(tree, exp.Select) or tree.args.get("order") is None or tree.args.get("limit") is None:
            continue
        limit = int(tree.args["limit"].expression.this)
        keys = _order_keys(tree)
        unlimited = tree.copy()
        unlimited.set("limit", None)
        for i, key in enumerate(keys):
            unlimited = unlimited.select(exp.alias_(key, f"_order_key_{i}"))
        rows = [row[-len(keys):] for row in con.execute(unlimited.sql(dialect="duckdb")).fetchall()]
        assert len(set(rows[:limit])) == len(rows[:limit]), case["question"]
        if len(rows) > limit:
            assert rows[limit - 1] != rows[limit], case["question"]
        checked += 1
    assert checked >= 5
