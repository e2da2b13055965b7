"""Write the balance-snapshot and service-event extracts of the bundled sample.

``balances.csv`` (GB18030, :mod:`synthetic.balances`) and ``events.csv`` (UTF-8,
:mod:`synthetic.service`), each with a few dirty rows, and ``true_signals.json``: the
planted parameters and the counts ingest must reconcile to exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from kequn import io as kio
from synthetic import balances as bal
from synthetic import service as svc

#: the faults of the dirty event rows, in turn
EVENT_FAULTS = ("bad_date", "blank_customer_id", "unmapped_value", "duplicate_event_id")


def _csv(frame: pd.DataFrame, encoding: str) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode(encoding)


def _with_dirty(clean: pd.DataFrame, dirty: pd.DataFrame) -> pd.DataFrame:
    clean = clean.assign(after=np.arange(len(clean), dtype=float) - 0.5)
    rows = pd.concat([clean, dirty.drop(columns="kind")], ignore_index=True)
    return rows.sort_values("after", kind="stable").drop(columns="after")


def dirty_events(events: pd.DataFrame, seed: int, count: int) -> pd.DataFrame:
    """``count`` extra unusable event rows, one fault of :data:`EVENT_FAULTS` each."""
    g = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E60]))
    src = np.sort(g.choice(len(events), size=count, replace=False))
    rows = svc.format_rows(events.iloc[src]).reset_index(drop=True)
    kind = np.asarray(EVENT_FAULTS)[np.arange(count) % len(EVENT_FAULTS)]
    fresh = kind != "duplicate_event_id"
    rows.loc[fresh, "工单号"] = [f"SX{i:08d}" for i in range(int(fresh.sum()))]
    rows.loc[kind == "bad_date", "事件日期"] = "2025-13-01"
    rows.loc[kind == "blank_customer_id", "客户号"] = " "
    rows.loc[kind == "unmapped_value", "事件类型"] = "未知类型"
    rows["kind"] = kind
    rows["after"] = src.astype(float)
    return rows


def write_signals(extract, out: str | Path, effect: bool = True) -> dict:
    """Plant and write both extracts beside the others; return the truth record."""
    out = Path(out)
    seed, end = int(extract.params["seed"]), str(extract.params["end"])
    truth_b, truth_s = bal.BalanceTruth(), svc.ServiceTruth()
    snapshots = bal.plant_balances(extract.customers, end, seed, effect, truth_b)
    events = svc.plant_events(extract.customers, end, seed, effect, truth_s)
    dirty_b = bal.dirty_rows(snapshots, seed, truth_b.dirty_rows)
    dirty_e = dirty_events(events, seed, 20)
    kio.write_bytes(
        out / "balances.csv", _csv(_with_dirty(bal.format_rows(snapshots), dirty_b), "gb18030")
    )
    kio.write_bytes(
        out / "events.csv", _csv(_with_dirty(svc.format_rows(events), dirty_e), "utf-8")
    )
    record = {
        "effect": effect,
        "balances": dataclasses.asdict(truth_b),
        "events": dataclasses.asdict(truth_s),
        "expected_ingest": {
            "balances": {
                "rows_read": len(snapshots) + len(dirty_b),
                "rows_accepted": len(snapshots),
                "rejected_by_reason": dirty_b["kind"].value_counts().sort_index().to_dict(),
            },
            "events": {
                "rows_read": len(events) + len(dirty_e),
                "rows_accepted": len(events),
                "rejected_by_reason": dirty_e["kind"].value_counts().sort_index().to_dict(),
            },
        },
    }
    record = _plain(record)
    kio.write_json(out / "true_signals.json", record)
    return record


def _plain(value):
    """Tuples and NumPy integers as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value
