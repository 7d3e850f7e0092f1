"""Small generated databases of other domains (library, HR, logistics) for schema-reading practice.

Trained on one database only, a small model memorises its tables; with several, it has to read the
schema in the prompt. These follow tools/sales_db.py: one seeded numpy Generator per database, an
explicit schema with a COMMENT on every table and column, primary and foreign keys, and an atomic
write. Dates fall in 2021-2024. Clinical domains are deliberately absent: they are kept for evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tools.dbwrite import Table, atomic_build, write_tables

__all__ = ["DOMAINS", "SCHEMAS", "DOMAIN_VERSION", "build_domain_db", "ensure_domain_dbs"]

# Part of the file names: a changed generator gets fresh files instead of silently reusing stale ones
DOMAIN_VERSION = 1
DEFAULT_SEED = 7
START, END = np.datetime64("2021-01-01"), np.datetime64("2025-01-01")  # activity window, end exclusive

# table: (comment, [(column, type, constraint, comment)]); constraint is '' | 'PRIMARY KEY' | 'REFERENCES t(c)'
Spec = dict[str, tuple[str, list[tuple[str, str, str, str]]]]

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
         "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Lisa",
         "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Priya", "Wei", "Fatima", "Hiroshi", "Olga", "Ahmed",
         "Sofia", "Lucas", "Amara", "Noah", "Emma", "Liam", "Chloe", "Mateo", "Aisha", "Ivan", "Mei", "Omar", "Elena"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lopez",
        "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
        "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Patel", "Kim", "Chen",
        "Schmidt", "Rossi", "Novak", "Silva", "Kowalski", "Okafor", "Haddad", "Tanaka", "Larsen", "Dubois", "Ivanova"]


def _days(rng: np.random.Generator, n: int, start=START, end=END) -> np.ndarray:
    return start + rng.integers(0, (end - start).astype(int), n).astype("timedelta64[D]")


def _names(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{FIRST[i]} {LAST[j]}" for i, j in zip(rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n))]


def _money(values: np.ndarray) -> np.ndarray:
    return np.round(values, 2)


# -- library --------------------------------------------------------------------------------------------
LIBRARY: Spec = {
    "branches": ("Branches of the city library network, one row per branch", [
        ("branch_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the branch"),
        ("branch_name", "VARCHAR", "", "Name of the branch, e.g. 'Riverside Branch'"),
        ("city", "VARCHAR", "", "City the branch is in"),
        ("opened_year", "INTEGER", "", "Year the branch opened"),
        ("floor_area_sqm", "INTEGER", "", "Public floor area in square metres")]),
    "books": ("Catalogue of books, one row per copy held by a branch", [
        ("book_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the book copy"),
        ("title", "VARCHAR", "", "Title of the book"),
        ("author", "VARCHAR", "", "Author's full name"),
        ("genre", "VARCHAR", "", "Genre of the book (Fiction, Mystery, Fantasy, Biography, ...)"),
        ("language", "VARCHAR", "", "Language the book is written in"),
        ("published_year", "INTEGER", "", "Year of publication"),
        ("pages", "INTEGER", "", "Number of pages"),
        ("replacement_cost", "DECIMAL(8,2)", "", "Cost in dollars to replace the copy if lost"),
        ("branch_id", "INTEGER", "REFERENCES branches(branch_id)", "Branch that holds the copy")]),
    "members": ("Registered library members", [
        ("member_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the member"),
        ("full_name", "VARCHAR", "", "Member's full name"),
        ("membership_type", "VARCHAR", "", "Kind of membership: Standard, Student, Senior or Family"),
        ("home_branch_id", "INTEGER", "REFERENCES branches(branch_id)", "Branch where the member registered"),
        ("joined_date", "DATE", "", "Date the member joined"),
        ("is_active", "BOOLEAN", "", "TRUE if the membership is currently valid")]),
    "loans": ("Book loans 2021-2024, one row per checkout of a copy", [
        ("loan_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the loan"),
        ("book_id", "INTEGER", "REFERENCES books(book_id)", "Book copy that was borrowed"),
        ("member_id", "INTEGER", "REFERENCES members(member_id)", "Member who borrowed it"),
        ("loan_date", "DATE", "", "Date the book was checked out"),
        ("due_date", "DATE", "", "Date the book was due back (21 days after checkout)"),
        ("return_date", "DATE", "", "Date the book came back; NULL while still on loan"),
        ("late_fee", "DECIMAL(6,2)", "", "Late fee charged in dollars (0.25 per day overdue)")]),
}
CITIES = ["Springfield", "Riverton", "Lakewood", "Fairhaven", "Brookside", "Millbrook"]
GENRES = {"Fiction": 0.22, "Mystery": 0.12, "Science Fiction": 0.08, "Fantasy": 0.09, "Biography": 0.07,
          "History": 0.08, "Science": 0.07, "Children": 0.12, "Romance": 0.07, "Poetry": 0.03, "Travel": 0.03,
          "Cookery": 0.02}
TITLE_A = ["Silent", "Hidden", "Last", "Golden", "Broken", "Distant", "Winter", "Secret", "Forgotten", "Crimson",
           "Endless", "Northern", "Quiet", "Burning", "Lost", "Wild", "Glass", "Midnight", "Paper", "Iron"]
TITLE_B = ["River", "Garden", "Kingdom", "Letters", "Harbor", "Mountain", "Orchard", "Empire", "Voyage", "House",
           "Island", "Forest", "Map", "Song", "Lighthouse", "City", "Station", "Bridge", "Sky", "Library"]


def _library(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    names = ["Central Library", "Riverside Branch", "Oak Hill Branch", "Harbor View Branch", "Northside Branch",
             "Maple Street Branch", "Westgate Branch", "Lakeside Branch"]
    branches = pd.DataFrame({
        "branch_id": np.arange(1, 9), "branch_name": names,
        "city": [CITIES[0], CITIES[1], CITIES[0], CITIES[3], CITIES[2], CITIES[4], CITIES[5], CITIES[2]],
        "opened_year": rng.integers(1950, 2020, 8), "floor_area_sqm": rng.integers(400, 5000, 8) // 10 * 10})
    n_books = 1200
    authors = _names(rng, 180)
    genre = rng.choice(list(GENRES), n_books, p=np.array(list(GENRES.values())) / sum(GENRES.values()))
    titles = [f"The {TITLE_A[a]} {TITLE_B[b]}" if rng.random() < 0.6 else f"{TITLE_A[a]} {TITLE_B[b]}"
              for a, b in zip(rng.integers(0, 20, n_books), rng.integers(0, 20, n_books))]
    pages = np.clip(rng.normal(320, 110, n_books), 32, 1100).astype(int)
    pages[genre == "Children"] = rng.integers(24, 120, (genre == "Children").sum())
    books = pd.DataFrame({
        "book_id": np.arange(1, n_books + 1), "title": titles, "author": rng.choice(authors, n_books),
        "genre": genre, "language": rng.choice(["English", "Spanish", "French", "German"], n_books, p=[.8, .1, .06, .04]),
        "published_year": np.clip(2024 - rng.exponential(14, n_books).astype(int), 1900, 2024), "pages": pages,
        "replacement_cost": _money(8 + pages * rng.uniform(0.03, 0.08, n_books)),
        "branch_id": rng.choice(branches.branch_id, n_books, p=np.array([3, 2, 1.5, 1, 1.5, 1, 1, 1]) / 12)})
    n_members = 1500
    members = pd.DataFrame({
        "member_id": np.arange(1, n_members + 1), "full_name": _names(rng, n_members),
        "membership_type": rng.choice(["Standard", "Student", "Senior", "Family"], n_members, p=[.5, .2, .15, .15]),
        "home_branch_id": rng.choice(branches.branch_id, n_members),
        "joined_date": _days(rng, n_members, np.datetime64("2012-01-01"), np.datetime64("2024-10-01")),
        "is_active": rng.random(n_members) < 0.85})
    n_loans = 20000
    loan_date = np.sort(_days(rng, n_loans))
    member = rng.choice(members.member_id, n_loans)
    joined = members.joined_date.to_numpy()[member - 1].astype("datetime64[D]")
    loan_date = np.maximum(loan_date, joined)  # nobody borrows before joining
    due = loan_date + np.timedelta64(21, "D")
    held = rng.gamma(2.0, 8.0, n_loans).astype(int) + 1
    returned = loan_date + held.astype("timedelta64[D]")
    returned_at = np.where(returned < END, returned, np.datetime64("NaT"))
    late_days = np.clip((returned - due).astype(int), 0, None)
    fee = np.where(pd.isna(returned_at), 0.0, late_days * 0.25)
    loans = pd.DataFrame({
        "loan_id": np.arange(1, n_loans + 1), "book_id": rng.choice(books.book_id, n_loans),
        "member_id": member, "loan_date": loan_date, "due_date": due, "return_date": returned_at,
        "late_fee": _money(fee)})
    return {"branches": branches, "books": books, "members": members, "loans": loans}


# -- hr -------------------------------------------------------------------------------------------------
HR: Spec = {
    "departments": ("Departments of the company, one row per department", [
        ("department_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the department"),
        ("department_name", "VARCHAR", "", "Name of the department"),
        ("location", "VARCHAR", "", "Office city the department works from"),
        ("annual_budget", "DECIMAL(14,2)", "", "Yearly budget of the department in dollars")]),
    "employees": ("Employees, current and former, one row per person", [
        ("employee_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the employee"),
        ("first_name", "VARCHAR", "", "Given name"),
        ("last_name", "VARCHAR", "", "Family name"),
        ("department_id", "INTEGER", "REFERENCES departments(department_id)", "Department the employee works in"),
        ("job_title", "VARCHAR", "", "Job title"),
        ("employment_type", "VARCHAR", "", "Full-time, Part-time or Contractor"),
        ("hire_date", "DATE", "", "Date the employee started"),
        ("status", "VARCHAR", "", "Active, On leave or Terminated"),
        ("termination_date", "DATE", "", "Last working day for terminated employees; NULL otherwise")]),
    "payroll": ("Monthly payroll 2021-2024, one row per employee per month paid", [
        ("payroll_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the payroll entry"),
        ("employee_id", "INTEGER", "REFERENCES employees(employee_id)", "Employee who was paid"),
        ("pay_month", "DATE", "", "First day of the month the pay is for"),
        ("base_salary", "DECIMAL(10,2)", "", "Gross base salary paid for the month in dollars"),
        ("bonus", "DECIMAL(10,2)", "", "Bonus paid in the month in dollars (often 0)"),
        ("overtime_hours", "INTEGER", "", "Overtime hours worked in the month")]),
    "reviews": ("Performance reviews of employees", [
        ("review_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the review"),
        ("employee_id", "INTEGER", "REFERENCES employees(employee_id)", "Employee who was reviewed"),
        ("review_date", "DATE", "", "Date of the review meeting"),
        ("review_type", "VARCHAR", "", "Annual, Mid-year or Probation"),
        ("rating", "INTEGER", "", "Overall rating from 1 (poor) to 5 (outstanding)"),
        ("promotion_recommended", "BOOLEAN", "", "TRUE if the reviewer recommended a promotion")]),
}
DEPARTMENTS = {  # name: (office, share of staff, base monthly salary, titles)
    "Engineering": ("Austin", 0.25, 9500, ["Software Engineer", "Senior Engineer", "Engineering Manager"]),
    "Sales": ("Chicago", 0.18, 6200, ["Sales Representative", "Account Manager", "Sales Director"]),
    "Marketing": ("New York", 0.08, 6800, ["Marketing Specialist", "Content Strategist", "Marketing Manager"]),
    "Finance": ("New York", 0.07, 7600, ["Accountant", "Financial Analyst", "Finance Manager"]),
    "Human Resources": ("Chicago", 0.05, 6100, ["Recruiter", "HR Generalist", "HR Manager"]),
    "Operations": ("Denver", 0.12, 5600, ["Operations Coordinator", "Logistics Analyst", "Operations Manager"]),
    "Customer Support": ("Denver", 0.13, 4300, ["Support Specialist", "Support Team Lead"]),
    "Legal": ("New York", 0.03, 10200, ["Legal Counsel", "Paralegal"]),
    "Research": ("Austin", 0.05, 9100, ["Research Scientist", "Data Scientist"]),
    "IT": ("Austin", 0.04, 7200, ["IT Administrator", "Security Analyst"]),
}


def _hr(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    names = list(DEPARTMENTS)
    departments = pd.DataFrame({
        "department_id": np.arange(1, len(names) + 1), "department_name": names,
        "location": [DEPARTMENTS[n][0] for n in names],
        "annual_budget": [round(DEPARTMENTS[n][1] * 4.2e7 * rng.uniform(0.9, 1.2), -3) for n in names]})
    n = 520
    dept = rng.choice(len(names), n, p=[DEPARTMENTS[x][1] for x in names])
    titles = [rng.choice(DEPARTMENTS[names[d]][3]) for d in dept]
    hire = _days(rng, n, np.datetime64("2008-01-01"), np.datetime64("2024-09-01"))
    status = rng.choice(["Active", "On leave", "Terminated"], n, p=[0.78, 0.05, 0.17])
    term = _days(rng, n, np.datetime64("2021-01-01"), np.datetime64("2024-12-01"))
    term = np.where((status == "Terminated") & (term > hire + np.timedelta64(60, "D")), term, np.datetime64("NaT"))
    status = np.where((status == "Terminated") & pd.isna(term), "Active", status)
    employees = pd.DataFrame({
        "employee_id": np.arange(1, n + 1), "first_name": rng.choice(FIRST, n), "last_name": rng.choice(LAST, n),
        "department_id": dept + 1, "job_title": titles,
        "employment_type": rng.choice(["Full-time", "Part-time", "Contractor"], n, p=[0.8, 0.1, 0.1]),
        "hire_date": hire, "status": status, "termination_date": term})
    months = np.arange(START.astype("datetime64[M]"), END.astype("datetime64[M]")).astype("datetime64[D]")
    rows = []
    level = np.array([1.0 + 0.35 * ("Senior" in t or "Lead" in t) + 0.7 * ("Manager" in t or "Director" in t)
                      for t in titles])
    monthly = np.array([DEPARTMENTS[names[d]][2] for d in dept]) * level * rng.lognormal(0, 0.12, n)
    part = employees.employment_type.to_numpy() == "Part-time"
    monthly[part] *= 0.55
    for i, month in enumerate(months):
        paid = (hire <= month + np.timedelta64(27, "D")) & (pd.isna(term) | (term >= month))
        ids = np.flatnonzero(paid)
        raise_factor = 1.035 ** (i // 12)  # yearly raises
        bonus = np.where((month.astype("datetime64[M]").astype(int) % 12 == 11) | (rng.random(ids.size) < 0.04),
                         monthly[ids] * rng.uniform(0.05, 0.6, ids.size), 0.0)
        rows.append(pd.DataFrame({"employee_id": ids + 1, "pay_month": month,
                                  "base_salary": _money(monthly[ids] * raise_factor), "bonus": _money(bonus),
                                  "overtime_hours": np.where(rng.random(ids.size) < 0.3,
                                                             rng.integers(1, 30, ids.size), 0)}))
    payroll = pd.concat(rows, ignore_index=True)
    payroll.insert(0, "payroll_id", np.arange(1, len(payroll) + 1))
    reviews = []
    for year in range(2021, 2025):
        for kind, month in (("Mid-year", 6), ("Annual", 12)):
            day = np.datetime64(f"{year}-{month:02d}-01")
            eligible = np.flatnonzero((hire < day - np.timedelta64(90, "D")) & (pd.isna(term) | (term > day)))
            picked = eligible[rng.random(eligible.size) < 0.9]
            reviews.append(pd.DataFrame({"employee_id": picked + 1, "review_type": kind,
                                         "review_date": day + rng.integers(0, 25, picked.size).astype("timedelta64[D]")}))
        probation = np.flatnonzero((hire >= np.datetime64(f"{year}-01-01")) & (hire < np.datetime64(f"{year + 1}-01-01")))
        reviews.append(pd.DataFrame({"employee_id": probation + 1, "review_type": "Probation",
                                     "review_date": hire[probation] + np.timedelta64(90, "D")}))
    reviews = pd.concat(reviews, ignore_index=True)
    reviews = reviews[reviews.review_date < END].sort_values(["review_date", "employee_id"], kind="stable")
    reviews = reviews.reset_index(drop=True)
    rating = np.clip(np.rint(rng.normal(3.4, 0.9, len(reviews))), 1, 5).astype(int)
    reviews.insert(0, "review_id", np.arange(1, len(reviews) + 1))
    reviews["rating"] = rating
    reviews["promotion_recommended"] = (rating >= 5) | ((rating == 4) & (rng.random(len(reviews)) < 0.25))
    return {"departments": departments, "employees": employees, "payroll": payroll,
            "reviews": reviews[["review_id", "employee_id", "review_date", "review_type", "rating",
                                "promotion_recommended"]]}


# -- logistics ------------------------------------------------------------------------------------------
LOGISTICS: Spec = {
    "warehouses": ("Distribution warehouses, one row per site", [
        ("warehouse_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the warehouse"),
        ("warehouse_name", "VARCHAR", "", "Name of the warehouse"),
        ("city", "VARCHAR", "", "City of the warehouse"),
        ("country", "VARCHAR", "", "Country of the warehouse"),
        ("capacity_pallets", "INTEGER", "", "Storage capacity in pallets"),
        ("opened_date", "DATE", "", "Date the warehouse started operating")]),
    "carriers": ("Transport companies that move shipments", [
        ("carrier_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the carrier"),
        ("carrier_name", "VARCHAR", "", "Company name of the carrier"),
        ("transport_mode", "VARCHAR", "", "Main mode of transport: Road, Rail, Air or Sea"),
        ("headquarters_country", "VARCHAR", "", "Country where the carrier is based")]),
    "shipments": ("Outbound shipments 2021-2024, one row per shipment", [
        ("shipment_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the shipment"),
        ("warehouse_id", "INTEGER", "REFERENCES warehouses(warehouse_id)", "Warehouse it left from"),
        ("carrier_id", "INTEGER", "REFERENCES carriers(carrier_id)", "Carrier that transported it"),
        ("ship_date", "DATE", "", "Date the shipment left the warehouse"),
        ("delivery_date", "DATE", "", "Date it was delivered; NULL if not delivered"),
        ("destination_country", "VARCHAR", "", "Country it was sent to"),
        ("priority", "VARCHAR", "", "Service level: Economy, Standard or Express"),
        ("status", "VARCHAR", "", "Delivered, In transit, Delayed, Returned or Lost"),
        ("weight_kg", "DECIMAL(10,2)", "", "Gross weight in kilograms"),
        ("shipping_cost", "DECIMAL(10,2)", "", "Freight cost charged by the carrier in dollars")]),
    "shipment_items": ("Contents of shipments, one row per product line in a shipment", [
        ("item_id", "INTEGER", "PRIMARY KEY", "Unique identifier of the line"),
        ("shipment_id", "INTEGER", "REFERENCES shipments(shipment_id)", "Shipment the line belongs to"),
        ("sku", "VARCHAR", "", "Stock keeping unit code of the product"),
        ("product_category", "VARCHAR", "", "Category of the goods"),
        ("quantity", "INTEGER", "", "Number of units on the line"),
        ("unit_value", "DECIMAL(10,2)", "", "Declared value of one unit in dollars"),
        ("is_fragile", "BOOLEAN", "", "TRUE if the goods need fragile handling")]),
}
SITES = [("Rotterdam DC", "Rotterdam", "Netherlands"), ("Hamburg Hub", "Hamburg", "Germany"),
         ("Lyon Depot", "Lyon", "France"), ("Milan Crossdock", "Milan", "Italy"), ("Madrid South", "Madrid", "Spain"),
         ("Warsaw East", "Warsaw", "Poland"), ("Leeds North", "Leeds", "United Kingdom"),
         ("Antwerp Port", "Antwerp", "Belgium")]
CARRIERS = [("SwiftFreight", "Road", "Germany"), ("EuroHaul", "Road", "Netherlands"), ("RailCargo Express", "Rail", "Austria"),
            ("BlueWave Shipping", "Sea", "Denmark"), ("SkyLink Air Cargo", "Air", "Ireland"), ("Atlas Logistics", "Road", "France"),
            ("Nordic Lines", "Sea", "Norway"), ("Meridian Air", "Air", "United Kingdom"), ("TransAlp Rail", "Rail", "Switzerland"),
            ("Iberia Trucking", "Road", "Spain")]
DESTINATIONS = ["Germany", "France", "Netherlands", "Belgium", "Spain", "Italy", "Poland", "United Kingdom", "Sweden",
                "Austria", "Czech Republic", "Portugal", "Ireland", "Denmark", "United States", "Canada"]
GOODS = {"Electronics": (120.0, 0.6), "Furniture": (180.0, 0.3), "Textiles": (15.0, 0.0), "Auto Parts": (45.0, 0.1),
         "Toys": (20.0, 0.2), "Food & Beverage": (6.0, 0.1), "Paper Goods": (4.0, 0.0), "Tools": (35.0, 0.05),
         "Glassware": (12.0, 0.95), "Sporting Goods": (40.0, 0.1)}


def _logistics(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    warehouses = pd.DataFrame({
        "warehouse_id": np.arange(1, len(SITES) + 1), "warehouse_name": [s[0] for s in SITES],
        "city": [s[1] for s in SITES], "country": [s[2] for s in SITES],
        "capacity_pallets": rng.integers(8, 60, len(SITES)) * 500,
        "opened_date": _days(rng, len(SITES), np.datetime64("2005-01-01"), np.datetime64("2020-12-31"))})
    carriers = pd.DataFrame({"carrier_id": np.arange(1, len(CARRIERS) + 1), "carrier_name": [c[0] for c in CARRIERS],
                             "transport_mode": [c[1] for c in CARRIERS], "headquarters_country": [c[2] for c in CARRIERS]})
    n = 12000
    carrier = rng.choice(len(CARRIERS), n, p=np.array([4, 3, 1.5, 1, 1, 2.5, 0.8, 0.8, 1, 2]) / 17.6)
    mode = np.array([c[1] for c in CARRIERS])[carrier]
    ship = np.sort(_days(rng, n))
    transit = {"Road": 3.0, "Rail": 5.0, "Air": 1.5, "Sea": 18.0}
    days = np.array([rng.gamma(2.0, transit[m] / 2) for m in mode]).astype(int) + 1
    status = rng.choice(["Delivered", "Delayed", "Returned", "Lost"], n, p=[0.9, 0.06, 0.03, 0.01])
    delivered = ship + days.astype("timedelta64[D]")
    late = status == "Delayed"
    delivered[late] += rng.integers(3, 15, late.sum()).astype("timedelta64[D]")
    status = np.where((delivered >= END) & (status != "Lost"), "In transit", status)
    delivery = np.where(np.isin(status, ["Delivered", "Delayed"]), delivered, np.datetime64("NaT"))
    weight = np.round(rng.lognormal(5.0, 1.0, n), 2)
    rate = {"Road": 0.35, "Rail": 0.22, "Air": 2.8, "Sea": 0.12}
    priority = rng.choice(["Economy", "Standard", "Express"], n, p=[0.3, 0.5, 0.2])
    cost = weight * np.array([rate[m] for m in mode]) * np.where(priority == "Express", 1.6, 1.0) + 25
    shipments = pd.DataFrame({
        "shipment_id": np.arange(1, n + 1), "warehouse_id": rng.choice(warehouses.warehouse_id, n),
        "carrier_id": carrier + 1, "ship_date": ship, "delivery_date": delivery,
        "destination_country": rng.choice(DESTINATIONS, n), "priority": priority, "status": status,
        "weight_kg": weight, "shipping_cost": _money(cost)})
    lines = rng.integers(1, 6, n)
    shipment = np.repeat(shipments.shipment_id.to_numpy(), lines)
    goods = list(GOODS)
    category = rng.choice(goods, shipment.size)
    value = np.array([GOODS[g][0] for g in category]) * rng.lognormal(0, 0.5, shipment.size)
    items = pd.DataFrame({
        "item_id": np.arange(1, shipment.size + 1), "shipment_id": shipment,
        "sku": [f"{g[:3].upper()}-{k:05d}" for g, k in zip(category, rng.integers(1, 4000, shipment.size))],
        "product_category": category, "quantity": rng.geometric(0.08, shipment.size),
        "unit_value": _money(value),
        "is_fragile": rng.random(shipment.size) < np.array([GOODS[g][1] for g in category])})
    return {"warehouses": warehouses, "carriers": carriers, "shipments": shipments, "shipment_items": items}


DOMAINS: dict[str, Callable[[np.random.Generator], dict[str, pd.DataFrame]]] = {
    "library": _library, "hr": _hr, "logistics": _logistics}
SCHEMAS: dict[str, Spec] = {"library": LIBRARY, "hr": HR, "logistics": LOGISTICS}


def _tables(spec: Spec) -> list[Table]:
    """A Spec as tools.dbwrite tables: the constraint joins the declared type ('INTEGER PRIMARY KEY')."""
    return [(table, comment, [(c, f"{t} {k}".strip(), note) for c, t, k, note in columns])
            for table, (comment, columns) in spec.items()]


def build_domain_db(name: str, out: str | os.PathLike, *, seed: int = DEFAULT_SEED, overwrite: bool = False) -> Path:
    """Generate the ``name`` database (library, hr, logistics) at ``out``; same seed, same contents."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; choose from {sorted(DOMAINS)}")
    with atomic_build(out, overwrite=overwrite) as temp:
        write_tables(temp, _tables(SCHEMAS[name]), DOMAINS[name](np.random.default_rng(seed)))
    return Path(out).expanduser().resolve()


def ensure_domain_dbs(root: Path, *, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Every domain database under ``root`` (built if missing), by name."""
    root = Path(root).expanduser()
    paths = {}
    for name in DOMAINS:
        path = root / f"{name}-v{DOMAIN_VERSION}-s{seed}.duckdb"
        if not path.is_file():
            try:
                build_domain_db(name, path, seed=seed)
            except FileExistsError:
                pass  # a concurrent process finished first; its file is just as good
        paths[name] = path.resolve()
    return paths
