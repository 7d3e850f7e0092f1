"""The evaluation's second domain: a deterministic outpatient clinic network in DuckDB.

gemsql is trained and prompted on the retail sales database only; this one exists to measure how
well it handles a schema it has never seen. It must never feed training data or prompt examples.

The data has the structure real questions probe: a flu season that fills General Practice and
Pediatrics every winter, fee levels that differ by specialty, visit type and clinic, no-show rates
that differ by insurance type, a clinic that opened in 2023, doctors hired during the window, and
patients who never booked. Everything derives from one seeded numpy Generator, so a seed always
yields identical tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tools.dbwrite import atomic_build, progress_steps, write_tables
from tools.paths import home

FIRST_DAY, END_DAY = np.datetime64("2023-01-01"), np.datetime64("2025-01-01")  # appointment window, end exclusive
DAYS = np.arange(FIRST_DAY, END_DAY)
MONTH_OF_DAY = DAYS.astype("datetime64[M]").astype(int) % 12  # 0 = January
APPOINTMENTS = 25_000
PATIENTS = 3_000
STEPS = ("clinics", "doctors", "patients", "appointments", "prescriptions", "comments/write")

# clinic: (city, state, opened year, demand, suburbs its patients also come from)
CLINICS = {
    "Riverside Family Health": ("Austin", "TX", 2006, 1.0, ["Round Rock", "Cedar Park"]),
    "Lakeshore Medical Center": ("Chicago", "IL", 1998, 1.4, ["Evanston", "Oak Park"]),
    "Summit Health Clinic": ("Denver", "CO", 2011, 0.9, ["Aurora", "Lakewood"]),
    "Bayview Medical Group": ("San Diego", "CA", 2009, 1.0, ["Chula Vista", "Escondido"]),
    "Harborview Outpatient Clinic": ("Seattle", "WA", 2003, 1.2, ["Bellevue", "Renton"]),
    "Northside Medical Clinic": ("Dallas", "TX", 2016, 0.8, ["Plano", "Irving"]),
    "Pine Valley Health Center": ("Sacramento", "CA", 2023, 0.6, ["Elk Grove", "Roseville"]),
    "Evergreen Family Care": ("Portland", "OR", 2014, 0.9, ["Beaverton", "Gresham"]),
}
SPECIALTIES = ["General Practice", "Pediatrics", "Cardiology", "Dermatology", "Orthopedics", "Neurology"]
# Doctors per specialty (in SPECIALTIES order) at each clinic, in CLINICS order: not every clinic has every one
ROSTER = np.array([
    [1, 1, 1, 1, 1, 0],
    [2, 1, 1, 1, 1, 1],
    [2, 1, 0, 0, 1, 1],
    [1, 1, 1, 1, 1, 0],
    [1, 1, 1, 1, 1, 1],
    [1, 1, 1, 0, 1, 0],
    [1, 1, 0, 1, 0, 0],
    [2, 1, 1, 0, 0, 1],
])
FIRST_NAMES = ["James", "Maria", "Robert", "Linda", "Michael", "Priya", "David", "Elena", "Wei", "Sarah",
               "Ahmed", "Grace", "Daniel", "Fatima", "Thomas", "Olivia", "Carlos", "Hannah", "Kenji", "Emily",
               "Samuel", "Aisha", "Jonathan", "Sofia", "Andrew", "Chloe", "Luis", "Megan", "Ravi", "Natalie",
               "Marcus", "Isabel", "Peter", "Yuki", "Brian", "Laura", "Omar", "Rachel", "Victor", "Anna",
               "Kevin", "Julia", "Diego", "Emma", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Zoe"]
LAST_NAMES = ["Smith", "Johnson", "Garcia", "Chen", "Patel", "Nguyen", "Williams", "Brown", "Martinez", "Kim",
              "Davis", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Lee", "Harris",
              "Clark", "Lewis", "Walker", "Hall", "Young", "Allen", "King", "Wright", "Scott", "Green",
              "Baker", "Adams", "Nelson", "Hill", "Ramirez", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips",
              "Evans", "Turner", "Torres", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Rivera",
              "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Gomez", "Kelly"]
INSURANCE = ["Private", "Medicare", "Medicaid", "Uninsured"]
# insurance mix by age group (child, adult, senior), in INSURANCE order
INSURANCE_BY_AGE = np.array([[0.55, 0.00, 0.40, 0.05], [0.68, 0.02, 0.18, 0.12], [0.12, 0.85, 0.02, 0.01]])
NO_SHOW_BY_INSURANCE = np.array([0.045, 0.06, 0.13, 0.18])
CANCEL_RATE = 0.08
# specialty mix of visits by age group (child, adult, senior), in SPECIALTIES order
SPECIALTY_BY_AGE = np.array([[0.00, 0.80, 0.02, 0.07, 0.08, 0.03],
                             [0.45, 0.00, 0.10, 0.17, 0.18, 0.10],
                             [0.35, 0.00, 0.30, 0.10, 0.15, 0.10]])
VISIT_TYPES = ["Checkup", "Follow-up", "Urgent", "Procedure"]
VISIT_MIX = np.array([[0.45, 0.30, 0.20, 0.05],  # by specialty, in SPECIALTIES order
                      [0.50, 0.20, 0.25, 0.05],
                      [0.25, 0.50, 0.10, 0.15],
                      [0.30, 0.30, 0.05, 0.35],
                      [0.20, 0.35, 0.15, 0.30],
                      [0.30, 0.50, 0.10, 0.10]])
CHECKUP_FEE = np.array([120.0, 110.0, 240.0, 160.0, 200.0, 260.0])  # by specialty, dollars
VISIT_FEE_FACTOR = np.array([1.0, 0.75, 1.6, 3.2])  # by visit type
PRICE_RISE_2024 = 1.05
# Flu season by month (January first): fills General Practice and Pediatrics, makes their visits urgent
FLU = np.array([3.0, 2.5, 1.2, 0.4, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.2, 2.5])
SEASON = {  # specialty: demand by month
    "General Practice": 1 + 0.25 * FLU, "Pediatrics": 1 + 0.3 * FLU,
    "Cardiology": np.array([1.05, 1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.0, 1.0, 0.9]),
    "Dermatology": np.array([0.8, 0.8, 0.9, 1.0, 1.2, 1.3, 1.3, 1.2, 1.0, 0.9, 0.8, 0.8]),
    "Orthopedics": np.array([0.9, 0.9, 1.0, 1.1, 1.2, 1.2, 1.15, 1.1, 1.1, 1.0, 0.9, 0.95]),
    "Neurology": np.ones(12),
}
WEEKDAY_DEMAND = np.array([1.1, 1.0, 1.0, 1.0, 0.95, 0.2, 0.0])  # Monday first; a few Saturday hours
CLOSED = ["01-01", "07-04", "12-25"]
YEARLY_GROWTH = 1.08
RX_RATE = np.array([0.50, 0.40, 0.60, 0.50, 0.45, 0.55])  # share of completed visits with a prescription
RX_BY_VISIT = np.array([0.7, 1.0, 1.35, 1.0])
SECOND_RX = 0.25
# specialty: [(drug, dosages in mg, possible days of supply, how often it is chosen)]; the antiviral's
# weight is set by the flu season instead
DRUGS = {
    "General Practice": [("Amoxicillin", [500, 875], [7, 10], 5), ("Lisinopril", [10, 20], [30, 90], 4),
                         ("Metformin", [500, 1000], [30, 90], 3), ("Atorvastatin", [20, 40], [30, 90], 4),
                         ("Ibuprofen", [400, 600], [7, 14], 3), ("Azithromycin", [250], [5], 2),
                         ("Oseltamivir", [75], [5], 0)],
    "Pediatrics": [("Amoxicillin", [250, 400], [7, 10], 6), ("Cetirizine", [5, 10], [30], 3),
                   ("Azithromycin", [200], [5], 2), ("Ibuprofen", [100, 200], [5, 7], 3),
                   ("Oseltamivir", [30, 45, 60], [5], 0)],
    "Cardiology": [("Atorvastatin", [20, 40, 80], [30, 90], 5), ("Metoprolol", [25, 50, 100], [30, 90], 4),
                   ("Lisinopril", [10, 20, 40], [30, 90], 3), ("Amlodipine", [5, 10], [30, 90], 3),
                   ("Clopidogrel", [75], [30, 90], 2), ("Warfarin", [2, 5], [30], 1)],
    "Dermatology": [("Doxycycline", [100], [30], 4), ("Isotretinoin", [20, 40], [30], 2),
                    ("Prednisone", [10, 20], [7, 14], 2), ("Hydroxyzine", [25], [14, 30], 2),
                    ("Minocycline", [50, 100], [30], 2)],
    "Orthopedics": [("Ibuprofen", [600, 800], [14, 30], 5), ("Naproxen", [500], [14, 30], 3),
                    ("Meloxicam", [15], [30], 3), ("Cyclobenzaprine", [10], [10, 14], 2),
                    ("Tramadol", [50], [5, 7], 1)],
    "Neurology": [("Gabapentin", [300, 600], [30, 90], 4), ("Sumatriptan", [50, 100], [30], 3),
                  ("Topiramate", [25, 50, 100], [30, 90], 3), ("Levetiracetam", [500, 1000], [30, 90], 2)],
}

# table: (comment, [(column, declared type, comment)]) -- parents first, so that REFERENCES resolve
SCHEMA = {
    "clinics": ("Outpatient clinics of the network, one row per clinic", [
        ("clinic_id", "INTEGER PRIMARY KEY", "Unique identifier of the clinic"),
        ("clinic_name", "VARCHAR", "Name of the clinic, e.g. 'Lakeshore Medical Center'"),
        ("city", "VARCHAR", "City where the clinic is located"),
        ("state", "VARCHAR", "Two-letter US state code of the clinic, e.g. 'TX'"),
        ("opened_year", "INTEGER", "Year the clinic opened; a clinic has no appointments before it opened")]),
    "doctors": ("Doctors working at the clinics, one row per doctor", [
        ("doctor_id", "INTEGER PRIMARY KEY", "Unique identifier of the doctor"),
        ("full_name", "VARCHAR", "First and last name of the doctor"),
        ("specialty", "VARCHAR", "Medical specialty: General Practice, Pediatrics, Cardiology, Dermatology, "
                                 "Orthopedics or Neurology"),
        ("clinic_id", "INTEGER REFERENCES clinics(clinic_id)", "Clinic the doctor works at (references "
                                                               "clinics.clinic_id)"),
        ("hire_date", "DATE", "Date the doctor started at the clinic; no appointments before it"),
        ("is_accepting_patients", "BOOLEAN", "TRUE if the doctor currently accepts new patients")]),
    "patients": ("Patients registered with the network, one row per patient", [
        ("patient_id", "INTEGER PRIMARY KEY", "Unique identifier of the patient"),
        ("first_name", "VARCHAR", "Given name of the patient"),
        ("last_name", "VARCHAR", "Family name of the patient"),
        ("birth_date", "DATE", "Date of birth of the patient; ages are computed from it"),
        ("sex", "VARCHAR", "Sex of the patient: 'F' (female) or 'M' (male)"),
        ("insurance_type", "VARCHAR", "Insurance coverage: Private, Medicare, Medicaid or Uninsured"),
        ("home_city", "VARCHAR", "City where the patient lives")]),
    "appointments": ("Appointments booked 2023-2024, one row per appointment of a patient with a doctor", [
        ("appointment_id", "INTEGER PRIMARY KEY", "Unique identifier of the appointment"),
        ("patient_id", "INTEGER REFERENCES patients(patient_id)", "Patient seen (references patients.patient_id)"),
        ("doctor_id", "INTEGER REFERENCES doctors(doctor_id)", "Doctor seeing the patient; the appointment "
                                                               "takes place at the doctor's clinic "
                                                               "(references doctors.doctor_id)"),
        ("appointment_date", "DATE", "Date of the appointment"),
        ("status", "VARCHAR", "Outcome of the appointment: Completed, Cancelled (called off in advance) or "
                              "No-show (the patient did not come)"),
        ("visit_type", "VARCHAR", "Kind of visit: Checkup, Follow-up, Urgent or Procedure"),
        ("fee", "DECIMAL(8,2)", "Fee of the visit in dollars as booked; it is billed only when the "
                                "appointment is Completed")]),
    "prescriptions": ("Drugs prescribed during completed appointments, one row per drug prescribed", [
        ("prescription_id", "INTEGER PRIMARY KEY", "Unique identifier of the prescription"),
        ("appointment_id", "INTEGER REFERENCES appointments(appointment_id)", "Completed appointment the "
                                                                              "drug was prescribed at "
                                                                              "(references "
                                                                              "appointments.appointment_id)"),
        ("drug_name", "VARCHAR", "Generic name of the drug, e.g. 'Amoxicillin'"),
        ("dosage_mg", "INTEGER", "Strength of one dose in milligrams"),
        ("days_supply", "INTEGER", "Number of days the prescribed quantity lasts")]),
}


def _make_clinics() -> pd.DataFrame:
    return pd.DataFrame({"clinic_id": np.arange(1, len(CLINICS) + 1, dtype=np.int32),
                         "clinic_name": list(CLINICS),
                         "city": [spec[0] for spec in CLINICS.values()],
                         "state": [spec[1] for spec in CLINICS.values()],
                         "opened_year": [spec[2] for spec in CLINICS.values()]})


def _day(text: str) -> np.datetime64:
    return np.datetime64(text, "D")


def _make_doctors(rng: np.random.Generator) -> pd.DataFrame:
    """Doctors by clinic then specialty; most hired before the window, a few new hires during it."""
    clinic_idx, specialty_idx = np.nonzero(ROSTER)
    counts = ROSTER[clinic_idx, specialty_idx]
    clinic_idx, specialty_idx = np.repeat(clinic_idx, counts), np.repeat(specialty_idx, counts)
    n = clinic_idx.size
    names: list[str] = []
    while len(names) < n:
        name = f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(len(LAST_NAMES))]}"
        if name not in names:
            names.append(name)
    opened = np.array([spec[2] for spec in CLINICS.values()])[clinic_idx]
    hire = np.empty(n, dtype="datetime64[D]")
    new_hire = np.zeros(n, dtype=bool)
    new_hire[rng.choice(np.flatnonzero(opened < 2023), 5, replace=False)] = True
    for i in range(n):
        if opened[i] >= 2023:  # the whole staff of a new clinic starts in its opening spring
            start, end = _day("2023-03-01"), _day("2023-06-30")
        elif new_hire[i]:
            start, end = _day("2023-02-01"), _day("2024-09-30")
        else:
            start, end = _day(f"{max(opened[i], 2000)}-01-01"), _day("2022-12-31")
        hire[i] = start + rng.integers(0, (end - start).astype(int) + 1)
    accepting = rng.random(n) < np.where(hire >= FIRST_DAY, 0.95, 0.7)
    return pd.DataFrame({"doctor_id": np.arange(1, n + 1, dtype=np.int32), "full_name": names,
                         "specialty": np.array(SPECIALTIES)[specialty_idx], "clinic_id": clinic_idx + 1,
                         "hire_date": hire, "is_accepting_patients": accepting})


def _make_patients(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Patients, plus each one's age group (0 child, 1 adult, 2 senior on 2023-01-01) and home clinic index."""
    age_group = rng.choice(3, PATIENTS, p=[0.22, 0.55, 0.23])
    low, high = np.array([0, 18, 65])[age_group], np.array([18, 65, 96])[age_group]
    age_days = rng.integers(low * 365 + 30, high * 365 - 5)
    birth = FIRST_DAY - age_days.astype("timedelta64[D]")
    demand = np.array([spec[3] for spec in CLINICS.values()])
    clinic = rng.choice(len(CLINICS), PATIENTS, p=demand / demand.sum())
    towns = [[spec[0], *spec[4]] for spec in CLINICS.values()]
    home_city = [towns[c][k] for c, k in zip(clinic, rng.choice(3, PATIENTS, p=[0.6, 0.25, 0.15]))]
    cumulative = np.cumsum(INSURANCE_BY_AGE, axis=1)[age_group]
    insurance = np.minimum((rng.random(PATIENTS)[:, None] > cumulative).sum(axis=1), len(INSURANCE) - 1)
    patients = pd.DataFrame({
        "patient_id": np.arange(1, PATIENTS + 1, dtype=np.int32),
        "first_name": np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), PATIENTS)],
        "last_name": np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), PATIENTS)],
        "birth_date": birth, "sex": np.where(rng.random(PATIENTS) < 0.54, "F", "M"),
        "insurance_type": np.array(INSURANCE)[insurance], "home_city": home_city,
    })
    return patients, age_group, clinic


def _day_weights() -> np.ndarray:
    """Demand by [specialty, day of window]: season, weekday, holidays and yearly growth."""
    weekday = (DAYS.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    closed = np.isin(np.datetime_as_string(DAYS), [f"{y}-{d}" for y in (2023, 2024) for d in CLOSED])
    years = (DAYS - FIRST_DAY).astype(int) / 365.25
    base = WEEKDAY_DEMAND[weekday] * ~closed * YEARLY_GROWTH ** years
    return np.stack([SEASON[s][MONTH_OF_DAY] * base for s in SPECIALTIES])


def _pick(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One index per row of a [rows, choices] probability matrix."""
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(probabilities))[:, None] > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _make_appointments(rng: np.random.Generator, doctors: pd.DataFrame, patients: pd.DataFrame,
                       age_group: np.ndarray, home_clinic: np.ndarray) -> pd.DataFrame:
    """Who sees whom, when, for what, at what fee and with which outcome."""
    # Patients: a few frequent visitors, a long tail, some who never book; children and seniors visit more
    activity = rng.gamma(1.0, size=PATIENTS) * np.array([1.2, 0.8, 1.5])[age_group]
    patient = rng.choice(PATIENTS, APPOINTMENTS, p=activity / activity.sum())
    specialty = _pick(rng, SPECIALTY_BY_AGE[age_group[patient]])
    weights = _day_weights()
    day = np.empty(APPOINTMENTS, dtype=np.int64)
    for s in range(len(SPECIALTIES)):
        rows = np.flatnonzero(specialty == s)
        day[rows] = rng.choice(DAYS.size, rows.size, p=weights[s] / weights[s].sum())
    # Mostly the home clinic, otherwise any clinic; a doctor of the specialty already hired on the day.
    # A clinic without one refers the patient to such a doctor at another clinic.
    clinic = np.where(rng.random(APPOINTMENTS) < 0.9, home_clinic[patient],
                      rng.integers(0, len(CLINICS), APPOINTMENTS))
    doc_clinic = doctors.clinic_id.to_numpy() - 1
    doc_specialty = doctors.specialty.map({s: i for i, s in enumerate(SPECIALTIES)}).to_numpy()
    hire = doctors.hire_date.to_numpy().astype("datetime64[D]")
    anywhere = (doc_specialty[None, :] == specialty[:, None]) & (DAYS[day][:, None] >= hire[None, :])
    local = anywhere & (doc_clinic[None, :] == clinic[:, None])
    eligible = np.where(local.any(axis=1, keepdims=True), local, anywhere)
    panel = rng.lognormal(0, 0.25, len(doctors))  # some doctors carry a bigger panel
    doctor = _pick(rng, eligible * panel)
    month = MONTH_OF_DAY[day]
    spec = doc_specialty[doctor]
    mix = VISIT_MIX[spec].copy()
    flu_prone = spec <= 1  # General Practice, Pediatrics
    mix[:, 2] *= np.where(flu_prone, 1 + 0.6 * FLU[month], 1.0)
    visit = _pick(rng, mix)
    clinic_price = rng.lognormal(0, 0.08, len(CLINICS))[doc_clinic[doctor]]
    fee = (CHECKUP_FEE[spec] * VISIT_FEE_FACTOR[visit] * clinic_price * rng.lognormal(0, 0.12, APPOINTMENTS)
           * np.where(day >= (np.datetime64("2024-01-01") - FIRST_DAY).astype(int), PRICE_RISE_2024, 1.0))
    insurance = patients.insurance_type.map({s: i for i, s in enumerate(INSURANCE)}).to_numpy()[patient]
    no_show = NO_SHOW_BY_INSURANCE[insurance] * np.where(visit == 2, 0.3, 1.0)
    draw = rng.random(APPOINTMENTS)
    status = np.where(draw < no_show, "No-show", np.where(draw < no_show + CANCEL_RATE, "Cancelled", "Completed"))
    appointments = pd.DataFrame({
        "patient_id": patients.patient_id.to_numpy()[patient], "doctor_id": doctors.doctor_id.to_numpy()[doctor],
        "appointment_date": DAYS[day], "status": status, "visit_type": np.array(VISIT_TYPES)[visit],
        "fee": np.rint(fee * 100) / 100, "_order": rng.random(APPOINTMENTS),
    })
    appointments = appointments.sort_values(["appointment_date", "doctor_id", "_order"], kind="stable")
    appointments.insert(0, "appointment_id", np.arange(1, APPOINTMENTS + 1, dtype=np.int32))
    return appointments.drop(columns="_order").reset_index(drop=True)


def _make_prescriptions(rng: np.random.Generator, appointments: pd.DataFrame, doctors: pd.DataFrame) -> pd.DataFrame:
    """Zero, one or two drugs per completed visit, from the specialty's list; antivirals in flu season."""
    done = appointments[appointments.status == "Completed"]
    specialty_of = dict(zip(doctors.doctor_id, doctors.specialty))
    spec = done.doctor_id.map(specialty_of).map({s: i for i, s in enumerate(SPECIALTIES)}).to_numpy()
    visit = done.visit_type.map({v: i for i, v in enumerate(VISIT_TYPES)}).to_numpy()
    month = done.appointment_date.to_numpy().astype("datetime64[M]").astype(int) % 12
    count = (rng.random(len(done)) < RX_RATE[spec] * RX_BY_VISIT[visit]) * (1 + (rng.random(len(done)) < SECOND_RX))
    line = np.repeat(np.arange(len(done)), count)
    drug = np.empty(line.size, dtype=np.int64)
    for s, name in enumerate(SPECIALTIES):
        rows = np.flatnonzero(spec[line] == s)
        popularity = np.array([d[3] for d in DRUGS[name]], dtype=float)
        weight = np.tile(popularity, (rows.size, 1))
        names = [d[0] for d in DRUGS[name]]
        if "Oseltamivir" in names:
            urgent = visit[line[rows]] == 2
            weight[:, names.index("Oseltamivir")] = (np.where(urgent, 4.0, 0.3) * FLU[month[line[rows]]]
                                                     * popularity.sum() / (len(names) - 1))
        drug[rows] = _pick(rng, weight)
    # A second drug identical to the first is the same prescription written twice: drop it
    keep = np.ones(line.size, dtype=bool)
    keep[1:] = ~((line[1:] == line[:-1]) & (drug[1:] == drug[:-1]))
    line, drug = line[keep], drug[keep]
    names, dosage, supply = [], np.empty(line.size, dtype=np.int32), np.empty(line.size, dtype=np.int32)
    for i, (s, d) in enumerate(zip(spec[line], drug)):
        name, doses, days, _ = DRUGS[SPECIALTIES[s]][d]
        names.append(name)
        dosage[i] = doses[rng.integers(len(doses))]
        supply[i] = days[rng.integers(len(days))]
    return pd.DataFrame({"prescription_id": np.arange(1, line.size + 1, dtype=np.int32),
                         "appointment_id": done.appointment_id.to_numpy()[line], "drug_name": names,
                         "dosage_mg": dosage, "days_supply": supply})


def build_clinic_db(out: str | os.PathLike, *, seed: int = 7, overwrite: bool = False,
                    progress: bool = False) -> Path:
    """Generate the clinic database at ``out`` and return its path.

    The same seed always gives identical contents. progress=True shows a Rich progress bar with steps:
    clinics, doctors, patients, appointments, prescriptions, comments/write.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(seed)
    with atomic_build(out, overwrite=overwrite) as temp:
        with progress_steps("clinic db", STEPS, progress) as step:
            step("clinics")
            clinics = _make_clinics()
            step("doctors")
            doctors = _make_doctors(rng)
            step("patients")
            patients, age_group, home_clinic = _make_patients(rng)
            step("appointments")
            appointments = _make_appointments(rng, doctors, patients, age_group, home_clinic)
            step("prescriptions")
            prescriptions = _make_prescriptions(rng, appointments, doctors)
            step("comments/write")
            # Keys included: every table is created and commented first, then filled parents first
            write_tables(temp, [(table, comment, columns) for table, (comment, columns) in SCHEMA.items()],
                         {"clinics": clinics, "doctors": doctors, "patients": patients,
                          "appointments": appointments, "prescriptions": prescriptions}, create_all_first=True)
    return Path(out).expanduser().resolve()


def clinic_db_path() -> Path:
    """Where the evaluation's clinic database lives: tools.paths.home() / 'eval' / 'clinic.duckdb'."""
    return home() / "eval" / "clinic.duckdb"


def ensure_clinic_db(progress: bool = True) -> Path:
    """Return clinic_db_path(), building it first (with a progress bar on stderr) if missing."""
    path = clinic_db_path()
    if not path.is_file():
        try:
            build_clinic_db(path, progress=progress)
        except FileExistsError:
            pass  # a concurrent process finished first; its file is just as good
    return path
