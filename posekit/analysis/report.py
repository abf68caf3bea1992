"""Angle-over-time plots for the analysis summary (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .angles import AngleSeries

#: Angle groups drawn in the plot's panels.
PANELS = (("knees & hips", ("left_knee", "right_knee", "left_hip", "right_hip")),
          ("elbows & shoulders", ("left_elbow", "right_elbow", "left_shoulder",
                                  "right_shoulder")),
          ("trunk & neck", ("trunk_lean", "neck_flexion")))


def plot_track(path: Path, track_id: int, series: AngleSeries, events: list[dict],
               exercises: list[str]) -> Path:
    """Draw one track's joint angles over time (three panels) with its events marked: rep
    bottoms as dots, falls as red spans from onset to ground, gestures and posture excursions
    as shaded spans. Writes a PNG at ``path``.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t, vals = series.arrays()
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(11, 7.5), sharex=True)
    for ax, (title, names) in zip(axes, PANELS):
        for n in names:
            ax.plot(t, vals[n], lw=1.2, label=n)
        ax.set_ylabel("degrees")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
        for e in events:
            if e["type"] == "rep":
                ax.axvline(e["bottom_s"], color="k", lw=0.6, ls=":")
            elif e["type"] == "fall":
                ax.axvspan(e["onset_s"], e["ground_s"], color="red", alpha=0.25)
            elif e["type"] in ("gesture", "posture"):
                ax.axvspan(e["start_s"], e["end_s"], color="tab:green" if e["type"] ==
                           "gesture" else "tab:orange", alpha=0.12)
    reps = [e for e in events if e["type"] == "rep"]
    counts = ", ".join(f"{x}: {sum(1 for e in reps if e['exercise'] == x)}" for x in exercises)
    falls = sum(1 for e in events if e["type"] == "fall")
    fig.suptitle(f"track {track_id}" + (f" | reps {counts}" if counts else "")
                 + (f" | falls: {falls}" if falls else ""), fontsize=10)
    axes[-1].set_xlabel("time (s)")
    if t.size:
        axes[-1].set_xlim(float(np.min(t)), float(np.max(t)) + 1e-3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
