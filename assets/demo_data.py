"""Deterministic demo data: customer feature snapshots plus churn labels, for `converge demo`.

Feature snapshots are a week apart; `app_sessions` only exists from the third snapshot on, so a
run of the generator introduces a new feature key over time, and labels observed before that
snapshot see it as missing (ingested first, it is part of the drift baseline, not drift). Labels
depend on the features as they were at the label time, so a point-in-time join that leaks later
rows is visibly worse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

START = datetime(2026, 1, 5, tzinfo=UTC)
SNAPSHOT_DAYS = 7
SNAPSHOT_EVERY = timedelta(days=SNAPSHOT_DAYS)
NEW_KEY_SNAPSHOT = 2
SEGMENTS = ("consumer", "smb", "enterprise", "public")
_SEGMENT_EFFECT = {"consumer": 0.4, "smb": 0.0, "enterprise": -0.6, "public": -0.2}


@dataclass(frozen=True)
class DemoData:
    """Feature rows (one per entity and snapshot) and labels (one per entity)."""

    features: pd.DataFrame
    labels: pd.DataFrame


def generate_demo_data(entities: int = 1500, snapshots: int = 4, seed: int = 7) -> DemoData:
    """The same frames for the same arguments: features with a late new key, and labels."""
    if entities < 1 or snapshots <= NEW_KEY_SNAPSHOT:
        raise ValueError(f"need entities >= 1 and snapshots > {NEW_KEY_SNAPSHOT}")
    rng = np.random.default_rng(seed)
    ids = np.array([f"customer-{i:06d}" for i in range(entities)])
    age = rng.integers(18, 80, entities).astype(float)
    segment = rng.choice(SEGMENTS, entities)
    income = rng.lognormal(10.8, 0.5, entities)
    usage = rng.gamma(2.0, 10.0, entities)
    frames = []
    for snapshot in range(snapshots):
        # Usage drifts per snapshot: the label must see the value of its own time, not the last.
        usage = np.maximum(0.0, usage + rng.normal(0.0, 4.0, entities))
        frame = pd.DataFrame(
            {
                "entity_id": ids,
                "event_timestamp": START + snapshot * SNAPSHOT_EVERY,
                "age": age,
                "segment": segment,
                "income": np.round(income, 2),
                "monthly_usage": np.round(usage, 3),
                "tenure_days": float(snapshot * 7) + rng.integers(30, 2000, entities),
            }
        )
        if snapshot >= NEW_KEY_SNAPSHOT:
            frame["app_sessions"] = rng.poisson(usage / 5.0).astype(float)
        frames.append(frame)
    features = pd.concat(frames, ignore_index=True)
    # Each entity is labelled half a day after a random snapshot and depends on that snapshot.
    label_snapshot = rng.integers(0, snapshots, entities)
    as_of = features.set_index(["entity_id", "event_timestamp"])
    label_times = START + pd.to_timedelta(label_snapshot * SNAPSHOT_DAYS, unit="D")
    seen = as_of.loc[list(zip(ids, label_times, strict=True))]
    logit = (
        -0.03 * (seen["age"].to_numpy() - 45.0)
        - 0.8 * (np.log(seen["income"].to_numpy()) - 10.8)
        - 0.06 * (seen["monthly_usage"].to_numpy() - 20.0)
        + np.array([_SEGMENT_EFFECT[s] for s in seen["segment"]])
        - 0.05 * np.nan_to_num(seen.get("app_sessions", pd.Series(0.0)).to_numpy(), nan=0.0)
        + rng.normal(0.0, 0.5, entities)
    )
    labels = pd.DataFrame(
        {
            "entity_id": ids,
            "event_timestamp": label_times + timedelta(hours=12),
            "label": (rng.random(entities) < 1.0 / (1.0 + np.exp(-logit))).astype(int),
        }
    )
    return DemoData(features=features, labels=labels)
