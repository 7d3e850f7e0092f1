"""The bundled sales database: a deterministic, realistic-looking retail data set in DuckDB.

It is what gemsql answers questions about out of the box, so it has the structure real questions
probe: seasonality, uneven growth by region, price levels by category, stores that open, close or
renovate. Everything derives from one seeded numpy Generator, so a (scale, seed) pair always yields
identical tables.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tools.dbwrite import atomic_build, progress_steps, write_tables
from tools.paths import default_db_path

FIRST_DAY, END_DAY = np.datetime64("2022-01-01"), np.datetime64("2025-01-01")  # sales window, end exclusive
MONTHS = np.arange(FIRST_DAY.astype("datetime64[M]"), END_DAY.astype("datetime64[M]"))
MONTH_OF = (np.arange(FIRST_DAY, END_DAY).astype("datetime64[M]") - MONTHS[0]).astype(int)  # by day of window
ROWS_AT_SCALE_1 = 240_000
MAX_SCALE = 50.0

REGIONS = {  # region: (store count, demand per store, yearly growth, cities) -- deliberately uneven
    "North": (9, 0.9, 1.04, ["Minneapolis", "Madison", "Duluth", "Fargo", "Green Bay"]),
    "South": (11, 1.0, 1.14, ["Atlanta", "Houston", "Nashville", "Tampa", "New Orleans"]),
    "East": (12, 1.2, 1.07, ["New York", "Boston", "Philadelphia", "Baltimore", "Hartford"]),
    "West": (10, 1.1, 1.12, ["Seattle", "Portland", "San Diego", "Sacramento", "Los Angeles"]),
    "Central": (8, 0.8, 0.99, ["Chicago", "St. Louis", "Kansas City", "Omaha", "Indianapolis"]),
}
LANDMARKS = ["Northgate", "Riverside", "Lakeview", "Oakwood", "Westfield", "Pinecrest", "Harbor Point",
             "Maple Ridge", "Cedar Park", "Sunset", "Hillcrest", "Brookfield", "Fairview", "Stonebridge"]
STORE_TYPES = {"Mall": 1.3, "Street": 0.75, "Outlet": 1.0}  # type: demand multiplier

# category: (product count, share of lines, geometric p for quantity, items as (name, list price))
CATEGORIES = {
    "Electronics": (34, 0.10, 0.80, [("Laptop", 950), ("Smartphone", 700), ("Tablet", 420), ("Monitor", 260),
                    ("Wireless Earbuds", 120), ("Smartwatch", 250), ("Bluetooth Speaker", 80), ("Camera", 600)]),
    "Apparel": (40, 0.20, 0.55, [("Denim Jeans", 55), ("Cotton T-Shirt", 18), ("Hoodie", 45), ("Rain Jacket", 90),
                ("Sneakers", 75), ("Dress Shirt", 40), ("Wool Sweater", 65), ("Leather Belt", 30)]),
    "Home": (34, 0.15, 0.60, [("Cookware Set", 140), ("Bath Towel", 15), ("Table Lamp", 45), ("Duvet Cover", 60),
             ("Coffee Maker", 85), ("Storage Bin", 12), ("Area Rug", 180), ("Dinnerware Set", 70)]),
    "Beauty": (30, 0.15, 0.50, [("Face Serum", 32), ("Shampoo", 9), ("Lipstick", 14), ("Moisturizer", 22),
               ("Perfume", 68), ("Sunscreen", 12), ("Hair Dryer", 55)]),
    "Grocery": (44, 0.30, 0.35, [("Ground Coffee", 11), ("Olive Oil", 9), ("Pasta", 2), ("Granola", 5),
                ("Dark Chocolate", 3), ("Sparkling Water", 1), ("Green Tea", 4), ("Almonds", 7)]),
    "Sports": (30, 0.10, 0.60, [("Yoga Mat", 30), ("Running Shoes", 110), ("Dumbbell Set", 85), ("Tennis Racket", 120),
               ("Water Bottle", 15), ("Bike Helmet", 55), ("Camping Tent", 190)]),
}
BRANDS = {  # brand: categories it sells in (mostly one, a few straddle two)
    "Voltrix": ["Electronics"], "Lumenix": ["Electronics"], "Nordwave": ["Electronics", "Home"],
    "Quantra": ["Electronics"], "Threadline": ["Apparel"], "Urban Loom": ["Apparel"],
    "Maple & Finch": ["Apparel", "Home"], "Kestrel": ["Apparel", "Sports"], "Hearthstone": ["Home"],
    "Casa Verde": ["Home", "Grocery"], "Oakhaven": ["Home"], "Lumina Botanics": ["Beauty"],
    "Velvet Rose": ["Beauty"], "Pure Petal": ["Beauty", "Grocery"], "Harvest Lane": ["Grocery"],
    "Golden Acre": ["Grocery"], "Brookside Farms": ["Grocery"], "Summit Gear": ["Sports"],
    "Stride Athletics": ["Sports", "Apparel"], "Trailforge": ["Sports"],
}
DESCRIPTORS = ["Classic", "Pro", "Essential", "Premium", "Everyday", "Signature", "Eco", "Ultra", "Select"]
# Demand by month of year, then category-specific swings (holiday electronics, summer sports, ...)
MONTH_DEMAND = np.array([0.82, 0.80, 0.92, 0.95, 1.00, 1.04, 1.06, 1.02, 0.96, 1.00, 1.18, 1.55])
CATEGORY_SWING = {"Electronics": {10: 1.5, 11: 2.0}, "Sports": {0: 1.2, 5: 1.6, 6: 1.7, 7: 1.5},
                  "Apparel": {8: 1.25, 11: 1.3}, "Beauty": {1: 1.3, 4: 1.25, 11: 1.4},
                  "Home": {11: 1.2}, "Grocery": {10: 1.2, 11: 1.15}}
WEEKDAY_DEMAND = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.15])  # Monday first
STEPS = ("stores", "products", "sales", "active_store", "comments/write")

# table: (comment, [(column, declared type, comment)]) -- the DDL, the casts on insert and the comments
SCHEMA = {
    "stores": ("Retail stores of the chain, one row per store", [
        ("store_id", "INTEGER PRIMARY KEY", "Unique identifier of the store"),
        ("store_name", "VARCHAR", "Display name of the store, e.g. 'Northgate Mall #12'"),
        ("region", "VARCHAR", "Sales region the store belongs to (North, South, East, West, Central)"),
        ("city", "VARCHAR", "City where the store is located"),
        ("store_type", "VARCHAR", "Store format: Mall, Street or Outlet"),
        ("opened_date", "DATE", "Date the store opened for business; it has no sales before this date")]),
    "products": ("Product catalogue, one row per product", [
        ("product_id", "INTEGER PRIMARY KEY", "Unique identifier of the product"),
        ("product_name", "VARCHAR", "Name of the product, starting with its brand"),
        ("brand", "VARCHAR", "Brand (manufacturer label) of the product"),
        ("category", "VARCHAR", "Product category (Electronics, Apparel, Home, Beauty, Grocery, Sports)"),
        ("unit_price", "DECIMAL(10,2)", "List price of one unit in dollars, before any discount")]),
    "sales": ("Sales transactions 2022-2024, one row per sale line (a product sold in a store on a day)", [
        ("sale_id", "BIGINT PRIMARY KEY", "Unique identifier of the sale line"),
        ("sale_date", "DATE", "Date of the sale"),
        ("store_id", "INTEGER", "Store where the sale happened (references stores.store_id)"),
        ("product_id", "INTEGER", "Product sold (references products.product_id)"),
        ("quantity", "INTEGER", "Number of units sold on the line"),
        ("amount", "DECIMAL(12,2)", "Revenue of the sale line in dollars (quantity x unit price, after discounts)")]),
    "active_store": ("Monthly store status: one row per store per month, 2022-01 to 2024-12", [
        ("month", "DATE", "First day of the calendar month"),
        ("store_id", "INTEGER", "Store the status is for (references stores.store_id)"),
        ("region", "VARCHAR", "Sales region of the store"),
        ("is_active", "BOOLEAN", "TRUE if the store was open and trading during the month; "
                                 "FALSE before opening, during renovations or after closure")]),
}


def _make_stores(rng: np.random.Generator) -> pd.DataFrame:
    """Stores numbered by opening date; a handful open during the sales window to give growth."""
    regions = np.repeat(list(REGIONS), [spec[0] for spec in REGIONS.values()])
    n, late = len(regions), 6
    first = np.datetime64("2015-01-01")
    # Late openers stop mid-2024 so that each still has a few months of sales to find
    early = first + rng.integers(0, (FIRST_DAY - first).astype(int), n - late)
    late_days = rng.integers(0, (np.datetime64("2024-07-01") - np.datetime64("2022-02-01")).astype(int), late)
    opened = np.concatenate([early, np.datetime64("2022-02-01") + late_days])
    stores = pd.DataFrame({"region": rng.permutation(regions), "opened_date": opened})
    stores = stores.sort_values("opened_date", kind="stable").reset_index(drop=True)
    stores.insert(0, "store_id", np.arange(1, n + 1, dtype=np.int32))
    stores["city"] = [REGIONS[r][3][i] for r, i in zip(stores.region, rng.integers(0, 5, n))]
    stores["store_type"] = rng.choice(list(STORE_TYPES), n, p=[0.45, 0.35, 0.20])
    stores["store_name"] = [f"{LANDMARKS[i]} {t} #{s}" for i, t, s in
                            zip(rng.integers(0, len(LANDMARKS), n), stores.store_type, stores.store_id)]
    return stores[["store_id", "store_name", "region", "city", "store_type", "opened_date"]]


def _make_products(rng: np.random.Generator) -> pd.DataFrame:
    """The catalogue; prices are kept in integer cents too, so line amounts are exact."""
    rows, seen = [], set()
    for category, (count, _, _, items) in CATEGORIES.items():
        brands = [b for b, cats in BRANDS.items() if category in cats]
        weights = np.array([2.0 if BRANDS[b][0] == category else 1.0 for b in brands])  # a brand's main line first
        for _ in range(count):
            brand = brands[rng.choice(len(brands), p=weights / weights.sum())]
            item, list_price = items[rng.integers(len(items))]
            name = f"{brand} {DESCRIPTORS[rng.integers(len(DESCRIPTORS))]} {item}"
            while name in seen:  # same brand, descriptor and item twice: a newer generation of it
                name += " II" if not name.endswith("I") else "I"
            seen.add(name)
            price = list_price * rng.lognormal(0.0, 0.25)
            cents = int(price) * 100 + 99 if price >= 5 else max(49, round(price * 100))  # shelf-style .99 prices
            rows.append((len(rows) + 1, name, brand, category, cents))
    products = pd.DataFrame(rows, columns=["product_id", "product_name", "brand", "category", "price_cents"])
    return products.assign(unit_price=products.price_cents / 100)


def _store_months(rng: np.random.Generator, stores: pd.DataFrame) -> np.ndarray:
    """Boolean [month, store]: open after the opening month, with a few renovations and one closure."""
    active = MONTHS[:, None] >= stores.opened_date.to_numpy().astype("datetime64[M]")[None, :]
    veterans = np.flatnonzero(stores.opened_date.to_numpy() < np.datetime64("2022-01-01"))
    picked = rng.choice(veterans, 4, replace=False)
    for store in picked[:3]:
        start = rng.integers(3, 30)
        active[start:start + rng.integers(2, 5), store] = False
    active[rng.integers(18, 31):, picked[3]] = False  # closed for good
    return active


def _place_sales(rng: np.random.Generator, stores: pd.DataFrame, active: np.ndarray,
                 rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Day index and store index of every sale line, in date order."""
    days = np.arange(FIRST_DAY, END_DAY)
    years = (days - FIRST_DAY).astype(int)[:, None] / 365.25
    region_of = stores.region.map({r: i for i, r in enumerate(REGIONS)}).to_numpy()
    demand, growth = (np.array([spec[k] for spec in REGIONS.values()])[region_of] for k in (1, 2))
    store_size = demand * stores.store_type.map(STORE_TYPES).to_numpy() * rng.lognormal(0, 0.3, len(stores))
    store_growth = growth * rng.lognormal(0, 0.03, len(stores))  # stores within a region diverge a little
    opened = stores.opened_date.to_numpy().astype("datetime64[D]")
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    weight = ((MONTH_DEMAND[MONTH_OF % 12] * WEEKDAY_DEMAND[weekday])[:, None] * store_size
              * store_growth ** years * active[MONTH_OF] * (days[:, None] >= opened[None, :]))
    # A multinomial over (day, store) cells fixes the row count exactly and yields rows already in date order
    counts = rng.multinomial(rows, (weight / weight.sum()).ravel())
    return np.divmod(np.repeat(np.arange(counts.size), counts), len(stores))


def _pick_categories(rng: np.random.Generator, month_of_year: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Category index per line: base shares, swung by the season and tilted by regional taste."""
    cats = list(CATEGORIES)
    swing = np.ones((12, len(cats)))
    for category, by_month in CATEGORY_SWING.items():
        for month, factor in by_month.items():
            swing[month, cats.index(category)] = factor
    taste = rng.lognormal(0, 0.2, (len(REGIONS), len(cats)))
    mix = np.array([CATEGORIES[c][1] for c in cats]) * swing[:, None, :] * taste[None, :, :]  # [month, region, cat]
    cumulative = np.cumsum(mix / mix.sum(axis=2, keepdims=True), axis=2).reshape(-1, len(cats))
    draw = rng.random(month_of_year.size)[:, None] > cumulative[month_of_year * len(REGIONS) + region]
    return np.minimum(draw.sum(axis=1), len(cats) - 1)


def _make_sales(rng: np.random.Generator, stores: pd.DataFrame, products: pd.DataFrame,
                active: np.ndarray, rows: int) -> pd.DataFrame:
    day, store = _place_sales(rng, stores, active, rows)
    month_of_year = MONTH_OF[day] % 12
    region_of = stores.region.map({r: i for i, r in enumerate(REGIONS)}).to_numpy()
    category = _pick_categories(rng, month_of_year, region_of[store])
    product = np.empty(rows, dtype=np.int64)
    for c, name in enumerate(CATEGORIES):
        ids = products.index[products.category == name].to_numpy()
        popularity = rng.gamma(0.8, size=ids.size)  # a few best sellers, a long tail
        product[category == c] = rng.choice(ids, (category == c).sum(), p=popularity / popularity.sum())
    # Wrap rather than clip the geometric tail so that 10 units is as rare as it should be
    quantity = (rng.geometric(np.array([spec[2] for spec in CATEGORIES.values()])[category]) - 1) % 10 + 1
    outlet = stores.store_type.to_numpy()[store] == "Outlet"
    discounted = rng.random(rows) < 0.10 + 0.20 * outlet + 0.15 * (month_of_year == 10)  # November promotions
    percent = np.where(discounted, rng.choice([5, 10, 15, 20, 25, 30], rows, p=[.25, .3, .2, .12, .08, .05]), 0)
    cents = np.rint(products.price_cents.to_numpy()[product] * quantity * (100 - percent) / 100)
    return pd.DataFrame({
        "sale_id": np.arange(1, rows + 1, dtype=np.int64), "sale_date": (FIRST_DAY + day).astype("datetime64[D]"),
        "store_id": stores.store_id.to_numpy()[store], "product_id": products.product_id.to_numpy()[product],
        "quantity": quantity.astype(np.int32), "amount": cents / 100,
    })


def _make_active_store(stores: pd.DataFrame, active: np.ndarray) -> pd.DataFrame:
    months = MONTHS.astype("datetime64[D]")
    return pd.DataFrame({"month": np.repeat(months, len(stores)), "store_id": np.tile(stores.store_id, len(months)),
                         "region": np.tile(stores.region, len(months)), "is_active": active.ravel()})


def build_sales_db(out: str | os.PathLike, *, scale: float = 1.0, seed: int = 20240101,
                   overwrite: bool = False, progress: bool = False) -> Path:
    """Generate the sales database at ``out`` and return its path.

    ``scale`` multiplies the number of sales rows (1.0 gives 240,000); the same (scale, seed) always
    gives identical contents. progress=True shows a Rich progress bar with steps: stores, products,
    sales, active_store, comments/write.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale) \
            or not 0 < scale <= MAX_SCALE:
        raise ValueError(f"scale must be a number > 0 and <= {MAX_SCALE:g}, got {scale!r}")
    rng = np.random.default_rng(seed)
    with atomic_build(out, overwrite=overwrite) as temp:
        with progress_steps("sales db", STEPS, progress) as step:
            step("stores")
            stores = _make_stores(rng)
            step("products")
            products = _make_products(rng)
            step("sales")
            active = _store_months(rng, stores)
            sales = _make_sales(rng, stores, products, active, max(1, round(ROWS_AT_SCALE_1 * scale)))
            step("active_store")
            active_store = _make_active_store(stores, active)
            step("comments/write")
            write_tables(temp, [(table, comment, columns) for table, (comment, columns) in SCHEMA.items()],
                         {"stores": stores, "products": products, "sales": sales, "active_store": active_store})
    return Path(out).expanduser().resolve()


def ensure_default_db(progress: bool = True) -> Path:
    """Return tools.paths.default_db_path(), building it first (with a progress bar on stderr) if missing."""
    path = default_db_path()
    if not path.is_file():
        try:
            build_sales_db(path, progress=progress)
        except FileExistsError:
            pass  # a concurrent process finished first; its file is just as good
    return path
