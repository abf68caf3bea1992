"""The :class:`Analyzer` stage, its events, the JSON Lines :class:`EventsSink` and the summary.

>>> analyzer = Analyzer("squat,posture,falls")                     # doctest: +SKIP
>>> with EventsSink("events.jsonl") as sink:                       # doctest: +SKIP
...     for frame, poses in results:
...         sink.write_all(analyzer.update(poses, frame.time_s))
...     sink.write_all(analyzer.finish())
>>> analyzer.write_summary("report/")                              # doctest: +SKIP

Every event is a flat JSON-serialisable dict with ``type`` (``rep``, ``fall``, ``gesture``,
``posture``), ``track_id`` (int), ``time_s`` (the frame time at which it was emitted) and
times in seconds:

- ``rep`` of a named counter: ``exercise``, ``rep`` (the track's count so far), ``side``,
  ``start_s``, ``bottom_s``, ``end_s``, ``duration_s``, ``bottom_deg``, ``rest_deg``,
  ``range_deg``, ``signal``, ``thresholds``, ``checks`` (list of ``{name, value, threshold,
  op, unit, ok}``), ``form_ok``;
- ``rep`` of the class-agnostic counter (``reps``, :mod:`.cycles`): ``counter`` = ``"reps"``,
  ``exercise`` (a named exercise it looks like, or ``"unknown"``), ``count`` and ``rep`` (the
  track's count so far), ``start_s``, ``turn_s`` (the far turning point; also ``bottom_s``),
  ``end_s``, ``duration_s``, ``swing_body``;
- ``fall``: ``onset_s``, ``ground_s``, ``confidence``, ``drop_body``,
  ``peak_speed_body_per_s``, ``torso_deg``, ``stayed_down``, ``track_lost``, ``frame``
  (``"image"`` or ``"feet"``: where :class:`~posekit.analysis.falls.FallMonitor` saw it), ...;
- ``gesture``: ``name`` (``wave_one_hand``, ``wave_two_hands``, ``hands_up``, ``t_pose``,
  ``pointing``), ``side``, ``start_s``, ``end_s``, ``duration_s``;
- ``posture``: ``name`` (``forward_head``, ``rounded_shoulders``, ``shoulder_tilt``,
  ``trunk_lean``), ``start_s``, ``end_s``, ``duration_s``, ``peak_deg``, ``mean_deg``,
  ``limit_deg``.

NaN values are written as ``null``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OutputError, PoseKitError
from ..skeletons import BLAZEPOSE_33
from ..types import Poses
from .angles import ANGLE_NAMES, AngleSeries, track_ids_of
from .cycles import CycleConfig, RepFinder
from .falls import FallConfig, FallMonitor
from .features import frame_features
from .gestures import GestureConfig, GestureDetector
from .posture import PostureConfig, PostureMonitor, posture_angles
from .reps import EXERCISES, ExerciseCounter, ExerciseSpec

log = logging.getLogger(__name__)

#: Analysis names accepted by :class:`Analyzer` (besides the exercise names).
ANALYSES = ("reps", "posture", "falls", "gestures", "angles")
_ALIASES = {"rep": "reps", "repetitions": "reps", "fall": "falls", "gesture": "gestures",
            "push-up": "pushup", "push_up": "pushup",
            "sit-up": "situp", "sit_up": "situp", "jumpingjack": "jumping_jack",
            "jumping-jack": "jumping_jack", "bicep_curl": "curl", "biceps_curl": "curl"}


_BODY = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
         "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
         "right_ankle")


#: Analyses that take an argument, ``name:ARG`` -> ``"module:factory"`` (imported when used):
#: ``classify:FILE`` runs a classifier from ``posekit train classifier`` (issue 18).
PLUGINS = {"classify": "posekit.analysis.classify:load_classify"}
PLUGINS["hand_gestures"] = "posekit.analysis.hand_gestures:load_hand_gestures"  # issue 19


def _load_plugin(spec: str):
    import importlib

    mod, attr = PLUGINS[spec.split(":")[0].strip().lower()].split(":")
    return getattr(importlib.import_module(mod), attr)(spec)


class AnalysisError(PoseKitError, ValueError):
    """An analysis is configured wrongly (unknown name, bad skeleton)."""


def parse_analyses(spec: str | Sequence[str], exercises: dict[str, ExerciseSpec] | None = None
                   ) -> tuple[list[str], list[str]]:
    """Split ``"squat,posture,falls"`` into (exercise names, other analyses).

    Raises:
        AnalysisError: an unknown name ("expected one of ...").
    """
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    ex = exercises if exercises is not None else EXERCISES
    out_ex, out_other = [], []
    raw = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    for n, given in zip(names, raw):
        if n.split(":")[0] in PLUGINS:    # e.g. classify:FILE (case kept), hand_gestures
            out_other.append(given)
            continue
        if not n:
            continue
        n = _ALIASES.get(n, n)
        if n in ex:
            out_ex.append(n) if n not in out_ex else None
        elif n in ANALYSES:
            out_other.append(n) if n not in out_other else None
        else:
            raise AnalysisError(f"unknown analysis {n!r}; expected one of "
                                f"{', '.join([*ex, *ANALYSES])}")
    return out_ex, out_other


def jsonable(v):
    """``v`` with NaN/inf as None, numpy scalars as Python numbers (recursively)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    return v


@dataclass
class _Track:
    tid: int
    first_s: float
    last_s: float
    counters: dict = field(default_factory=dict)
    cycles: RepFinder | None = None
    fall: FallMonitor | None = None
    gesture: GestureDetector | None = None
    posture: PostureMonitor | None = None
    series: AngleSeries | None = None
    angles: dict = field(default_factory=dict)
    frames: int = 0
    gone: bool = False


class Analyzer:
    """Motion analytics over a stream of :class:`~posekit.types.Poses`, per track.

    Args:
        analyses: comma-separated names (or a list): exercises (``squat``, ``pushup``,
            ``curl``, ``jumping_jack``, ``lunge``, ``situp``), ``reps`` (any repeated
            movement, no exercise named: :class:`~posekit.analysis.cycles.RepFinder`) and
            ``posture``, ``falls``, ``gestures``, ``angles`` (joint-angle time series for the
            summary; always kept unless ``keep_series=False``).
        exercises: exercise specs by name (default :data:`posekit.analysis.reps.EXERCISES`);
            pass modified :class:`~posekit.analysis.reps.ExerciseSpec` to change thresholds.
        fall_config, posture_config, gesture_config, cycle_config: thresholds of those
            analyses (``cycle_config``: :class:`~posekit.analysis.cycles.CycleConfig` of
            ``reps``).
        min_visibility: landmark score below which angles are NaN.
        keep_series: keep every track's angle time series (for :meth:`write_summary`).
        forget_s: a track unseen this long stops receiving "missing" updates.
        handover_s, handover_dist: a fall pending on a track lost less than ``handover_s``
            seconds ago (default ``fall_config.lost_wait_s``) continues on a track born in
            that time whose hip is within ``handover_dist`` body scales of the lost track's
            last hip position (trackers often start a new track for a person who has just
            fallen).

    ``update(poses, time_s)`` takes BlazePose-33 poses (other skeletons with the main body
    landmarks, such as COCO-17, are converted with ``poses.to(BLAZEPOSE_33)``; what they lack,
    e.g. toes and world landmarks, reads as not visible) (``track_ids`` from a tracker, or None:
    index ``i`` is track ``i``; persons with ID -1, a tracker's tentative tracks, are skipped)
    and the frame time in seconds (increasing) and returns the events completed by this frame;
    :meth:`finish` returns those still open at the end. All events are also kept in
    :attr:`events`. Cost: well below a millisecond per person per frame.

    Raises:
        AnalysisError: unknown analysis name; poses of a skeleton without the body landmarks.
    """

    def __init__(self, analyses: str | Sequence[str] = "angles", *,
                 exercises: dict[str, ExerciseSpec] | None = None,
                 fall_config: FallConfig | None = None,
                 posture_config: PostureConfig | None = None,
                 gesture_config: GestureConfig | None = None,
                 cycle_config: CycleConfig | None = None,
                 min_visibility: float = 0.5, keep_series: bool = True,
                 forget_s: float = 10.0, handover_s: float | None = None,
                 handover_dist: float = 3.0):
        self._specs = dict(exercises if exercises is not None else EXERCISES)
        self.exercises, others = parse_analyses(analyses, self._specs)
        self.plugins = [_load_plugin(n) for n in others
                        if n.split(":")[0].strip().lower() in PLUGINS]
        # body analyses (angles, counters, posture, falls, gestures) besides the plugins; with
        # plugins alone (hand_gestures on the hands model) no body landmarks are needed
        self._body = bool(self.exercises) or len(self.plugins) < len(others)
        self.do_posture = "posture" in others
        self.do_reps = "reps" in others
        self.cycle_config = cycle_config or CycleConfig()
        self.do_falls = "falls" in others
        self.do_gestures = "gestures" in others
        self.fall_config = fall_config or FallConfig()
        self.posture_config = posture_config or PostureConfig()
        self.gesture_config = gesture_config or GestureConfig()
        self.min_visibility = min_visibility
        self.keep_series = keep_series
        self.forget_s = forget_s
        self.handover_s = self.fall_config.lost_wait_s if handover_s is None else handover_s
        self.handover_dist = handover_dist
        self.tracks: dict[int, _Track] = {}
        self.events: list[dict] = []
        self.frames = 0
        self.cost_s = 0.0
        self.last_time_s: float | None = None
        self._finished = False

    @property
    def names(self) -> list[str]:
        """The configured analyses, exercises first."""
        return [*self.exercises, *(n for n, on in (("reps", self.do_reps),
                                                   ("posture", self.do_posture),
                                                   ("falls", self.do_falls),
                                                   ("gestures", self.do_gestures)) if on)]

    def _track(self, tid: int, t: float) -> _Track:
        tr = self.tracks.get(tid)
        if tr is None:
            tr = _Track(tid, t, t)
            tr.counters = {n: ExerciseCounter(self._specs[n]) for n in self.exercises}
            tr.fall = FallMonitor(self.fall_config) if self.do_falls else None
            tr.cycles = RepFinder(self.cycle_config, self._specs) if self.do_reps else None
            tr.gesture = GestureDetector(self.gesture_config) if self.do_gestures else None
            tr.posture = PostureMonitor(self.posture_config) if self.do_posture else None
            tr.series = AngleSeries(ANGLE_NAMES) if self.keep_series else None
            self.tracks[tid] = tr
        return tr

    def update(self, poses: Poses, time_s: float) -> list[dict]:
        """Analyse one frame; returns the events completed by it (see the module doc)."""
        t0 = time.perf_counter()
        out: list[dict] = [e for p in self.plugins for e in p.update(poses, time_s)]
        time_s = float(time_s)
        self.frames += 1
        self.last_time_s = time_s
        if not self._body:
            return out
        if poses.skeleton != BLAZEPOSE_33:
            poses = self._to_blazepose(poses)
        feats = frame_features(poses, min_visibility=self.min_visibility)
        post = posture_angles(poses, min_visibility=self.min_visibility) \
            if self.do_posture else [None] * len(poses)
        seen = set()
        for i, tid in enumerate(track_ids_of(poses)):
            tid = int(tid)
            if tid in seen or tid < 0:   # a duplicate ID keeps the first; -1 = tentative
                continue
            seen.add(tid)
            tr = self._track(tid, time_s)
            tr.last_s, tr.gone = time_s, False
            tr.frames += 1
            f = feats[i]
            tr.angles = {n: f[n] for n in ANGLE_NAMES}
            if tr.series is not None:
                tr.series.append(time_s, tr.angles)
            for ec in tr.counters.values():
                out += [self._ev("rep", tid, time_s, r) for r in ec.update(time_s, f)]
            if tr.cycles is not None:
                out += [self._ev("rep", tid, time_s, r) for r in
                        tr.cycles.update(time_s, poses.keypoints[i], poses.scores[i], f)]
            if tr.fall is not None:
                out += [self._ev("fall", tid, time_s, e) for e in tr.fall.update(time_s, f)]
            if tr.gesture is not None:
                out += [self._ev("gesture", tid, time_s, e) for e in
                        tr.gesture.update(time_s, poses.keypoints[i], poses.scores[i], f)]
            if tr.posture is not None:
                out += [self._ev("posture", tid, time_s, e)
                        for e in tr.posture.update(time_s, post[i])]
        if self.do_falls:
            self._fall_handover(seen, time_s)
        for tid, tr in self.tracks.items():
            if tid in seen or tr.gone:
                continue
            if time_s - tr.last_s > self.forget_s:
                tr.gone = True
            out += self._missing(tr, time_s)
        self.events += out
        self.cost_s += time.perf_counter() - t0
        return out

    @staticmethod
    def _to_blazepose(poses: Poses) -> Poses:
        """Other skeletons (e.g. COCO-17 from YOLO) in BlazePose-33 layout; landmarks they lack
        (heels, toes, hands) are missing, so the angles and checks that need them are NaN/None.
        """
        missing = [n for n in _BODY if n not in poses.skeleton.keypoints]
        if missing:
            raise AnalysisError(f"analysis needs body landmarks ({', '.join(_BODY)}); "
                                f"{poses.skeleton.name} has no {', '.join(missing)}")
        return poses.to(BLAZEPOSE_33)

    def _fall_handover(self, seen: set, time_s: float) -> None:
        """Give a lost track's pending fall to a track born next to it (see
        :meth:`FallDetector.adopt`)."""
        lost = [tr for tid, tr in self.tracks.items() if tid not in seen and tr.fall.pending
                and time_s - tr.last_s <= self.handover_s]
        if not lost:
            return
        for tid in seen:
            tr = self.tracks[tid]
            if tr.fall.pending or tr.fall.fallen or time_s - tr.first_s > self.handover_s:
                continue
            best = min(lost, key=lambda o: tr.fall.handover_distance(o.fall))
            if tr.fall.handover_distance(best.fall) <= self.handover_dist:
                log.debug("fall of track %d continues on track %d", best.tid, tid)
                tr.fall.adopt(best.fall)
                lost.remove(best)
                if not lost:
                    return

    def _missing(self, tr: _Track, time_s: float) -> list[dict]:
        out = []
        if tr.fall is not None:
            out += [self._ev("fall", tr.tid, time_s, e) for e in tr.fall.missing(time_s)]
        if tr.gesture is not None:
            out += [self._ev("gesture", tr.tid, time_s, e) for e in tr.gesture.missing(time_s)]
        if tr.posture is not None:
            out += [self._ev("posture", tr.tid, time_s, e) for e in tr.posture.missing(time_s)]
        return out

    @staticmethod
    def _ev(kind: str, tid: int, time_s: float, body: dict) -> dict:
        ev = {"type": kind, "track_id": int(tid)}
        ev.update(body)
        ev.setdefault("time_s", round(time_s, 4))
        return jsonable(ev)

    def finish(self) -> list[dict]:
        """Events still open at the end of the stream (falls awaiting confirmation, gestures and
        posture excursions in progress). Call once; later calls return []."""
        if self._finished:
            return []
        self._finished = True
        out: list[dict] = [e for p in self.plugins for e in p.finish()]
        t = self.last_time_s or 0.0
        for tid, tr in self.tracks.items():
            if tr.cycles is not None:
                out += [self._ev("rep", tid, t, e) for e in tr.cycles.finish()]
            if tr.fall is not None:
                out += [self._ev("fall", tid, t, e) for e in tr.fall.finish()]
            if tr.gesture is not None:
                out += [self._ev("gesture", tid, t, e) for e in tr.gesture.finish()]
            if tr.posture is not None:
                out += [self._ev("posture", tid, t, e) for e in tr.posture.finish()]
        self.events += out
        return out

    # ------------------------------------------------------------------ live state
    def overlay_state(self, track_id: int) -> dict:
        """Live state of one track for overlays and the service (JSON-serialisable):
        ``counters`` (per exercise: ``count``, ``state``, ``value_deg``, ``signal``,
        ``last_rep``), ``angles`` (latest, degrees), ``fall_alert`` (bool), ``gesture``
        (current label or ""), ``posture`` (smoothed angles) and ``posture_alerts`` (names
        beyond their limit). An unknown track gives empty values."""
        tr = self.tracks.get(int(track_id))
        if tr is None:
            return {"track_id": int(track_id), "counters": {}, "angles": {},
                    "fall_alert": False, "gesture": "", "posture": {}, "posture_alerts": []}
        counters = {}
        for name, ec in tr.counters.items():
            counters[name] = {"count": ec.count, "state": ec.state, "value_deg": ec.value,
                              "signal": ec.counters[0].signal_name if len(ec.counters) == 1
                              else ec.spec.signal,
                              "last_rep": ec.reps[-1] if ec.reps else None}
        if tr.cycles is not None:
            counters["reps"] = {"count": tr.cycles.count, "state": tr.cycles.exercise,
                                "value_deg": None, "signal": "pose",
                                "last_rep": tr.cycles.reps[-1] if tr.cycles.reps else None}
        alerts = []
        if tr.posture is not None:
            lim = tr.posture.c.limits
            alerts = [n for n, v in tr.posture.current.items()
                      if n in lim and math.isfinite(v) and abs(v) > lim[n]]
        return jsonable({
            "track_id": tr.tid, "time_s": tr.last_s, "counters": counters,
            "angles": dict(tr.angles),
            "fall_alert": bool(tr.fall.fallen) if tr.fall is not None else False,
            "gesture": tr.gesture.current if tr.gesture is not None else "",
            "posture": dict(tr.posture.current) if tr.posture is not None else {},
            "posture_alerts": alerts,
        })

    def snapshot(self, poses: Poses):
        """The live state of the persons in ``poses`` (and the fall alerts) frozen now, so an
        overlay can be drawn later on another thread (the pipeline's writer) while this
        analyzer moves on."""
        from .overlay import OverlaySnapshot

        return OverlaySnapshot({int(t): self.overlay_state(int(t)) for t in track_ids_of(poses)},
                               tuple(self.fall_alerts()))

    def fall_alerts(self) -> list[int]:
        """Track IDs currently in the fallen state (from a detected fall until the person is
        back up), including tracks not seen in the latest frame but seen within ``forget_s``
        (a person lying on the floor is often lost by the detector)."""
        return [tid for tid, tr in self.tracks.items()
                if tr.fall is not None and tr.fall.fallen and not tr.gone]

    def as_stage(self, sink: EventsSink | None = None) -> AnalysisStage:
        """A pipeline stage (``update(poses, time_s) -> poses``) that runs this analyzer and
        writes its events to ``sink``."""
        return AnalysisStage(self, sink)

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict:
        """Per-track results (JSON-serialisable): reps per exercise, falls, gestures, posture
        (time beyond limits, events), angle statistics; plus totals and the analysis cost."""
        tracks = {}
        for tid, tr in sorted(self.tracks.items()):
            d: dict = {"first_s": tr.first_s, "last_s": tr.last_s, "frames": tr.frames}
            d["reps"] = {n: {"count": ec.count, "reps": ec.reps} for n, ec in
                         tr.counters.items()}
            if tr.cycles is not None:
                d["reps"]["reps"] = {"count": tr.cycles.count, "exercise": tr.cycles.exercise,
                                     "reps": tr.cycles.reps}
            evs = [e for e in self.events if e["track_id"] == tid]
            if tr.fall is not None:
                d["falls"] = [e for e in evs if e["type"] == "fall"]
            if tr.gesture is not None:
                d["gestures"] = [e for e in evs if e["type"] == "gesture"]
            if tr.posture is not None:
                d["posture"] = {"time": tr.posture.summary(),
                                "events": [e for e in evs if e["type"] == "posture"]}
            if tr.series is not None and tr.series.times:
                _, vals = tr.series.arrays()
                stats = {}
                for n, v in vals.items():
                    v = v[np.isfinite(v)]
                    stats[n] = None if v.size == 0 else {
                        "min": round(float(v.min()), 2), "max": round(float(v.max()), 2),
                        "mean": round(float(v.mean()), 2), "samples": int(v.size)}
                d["angle_stats"] = stats
            tracks[str(tid)] = d
        return jsonable({
            "analyses": self.names, "frames": self.frames,
            "analysis_us_per_frame": round(1e6 * self.cost_s / self.frames, 1)
            if self.frames else None,
            "counts": {n: sum(tr.counters[n].count for tr in self.tracks.values())
                       for n in self.exercises} | ({"reps": sum(
                           tr.cycles.count for tr in self.tracks.values())}
                           if self.do_reps else {}),
            "events": len(self.events), "tracks": tracks,
        })

    def write_summary(self, out_dir: str | Path, *, min_frames: int = 5) -> dict[str, Path]:
        """Write ``summary.json`` (:meth:`summary` plus the angle series), one
        ``angles_track<ID>.png`` per track seen in at least ``min_frames`` frames (joint angles
        over time, rep bottoms and events marked; needs matplotlib) and ``report.html``
        (tables and the plots). Returns ``{"json": path, "html": path, "png": [paths]}``.

        Raises:
            OutputError: ``out_dir`` cannot be created or written.
        """
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create summary folder {out}: {e}") from e
        summ = self.summary()
        for tid, tr in self.tracks.items():
            if tr.series is not None and str(tid) in summ["tracks"]:
                summ["tracks"][str(tid)]["angles"] = tr.series.to_dict()
        paths: dict = {"json": out / "summary.json", "html": out / "report.html", "png": []}
        try:
            paths["json"].write_text(json.dumps(summ, indent=1))
            try:
                from .report import plot_track
                for tid, tr in sorted(self.tracks.items()):
                    if tr.series is None or tr.frames < min_frames:
                        continue
                    p = out / f"angles_track{tid}.png"
                    plot_track(p, tid, tr.series, [e for e in self.events
                                                   if e["track_id"] == tid], self.exercises)
                    paths["png"].append(p)
            except ImportError as e:  # matplotlib missing: JSON and HTML only
                log.warning("no angle plots: %s", e)
            paths["html"].write_text(_html_report(summ, [p.name for p in paths["png"]]))
        except OSError as e:
            raise OutputError(f"cannot write the summary in {out}: {e}") from e
        return paths


def _html_report(summ: dict, pngs: list[str]) -> str:
    esc = html.escape
    rows = []
    for tid, d in summ["tracks"].items():
        rows.append(f"<h2>Track {esc(tid)}</h2><p>{d['frames']} frames, "
                    f"{d['first_s']:.2f}-{d['last_s']:.2f} s</p>")
        for name, r in d.get("reps", {}).items():
            if name == "reps":       # the class-agnostic counter
                rows.append(f"<h3>reps (any movement): {r['count']}, exercise "
                            f"{esc(str(r['exercise']))}</h3><table><tr><th>#</th><th>start s"
                            "</th><th>turn s</th><th>end s</th><th>exercise</th></tr>")
                rows += [f"<tr><td>{rep['count']}</td><td>{rep['start_s']:.2f}</td>"
                         f"<td>{rep['turn_s']:.2f}</td><td>{rep['end_s']:.2f}</td>"
                         f"<td>{esc(str(rep['exercise']))}</td></tr>" for rep in r["reps"]]
                rows.append("</table>")
                continue
            rows.append(f"<h3>{esc(name)}: {r['count']} reps</h3><table><tr><th>#</th>"
                        "<th>start s</th><th>bottom s</th><th>end s</th><th>range deg</th>"
                        "<th>form</th></tr>")
            for rep in r["reps"]:
                checks = ", ".join(
                    f"{esc(c['name'])} {c['value']} {esc(c['op'])} {c['threshold']} "
                    f"{'ok' if c['ok'] else ('n/a' if c['ok'] is None else 'FAIL')}"
                    for c in rep["checks"])
                rows.append(f"<tr><td>{rep['rep']}</td><td>{rep['start_s']:.2f}</td>"
                            f"<td>{rep['bottom_s']:.2f}</td><td>{rep['end_s']:.2f}</td>"
                            f"<td>{rep['range_deg']:.0f}</td><td>{checks}</td></tr>")
            rows.append("</table>")
        for key in ("falls", "gestures"):
            if d.get(key):
                rows.append(f"<h3>{key}</h3><pre>{esc(json.dumps(d[key], indent=1))}</pre>")
        if "posture" in d:
            rows.append("<h3>posture</h3><pre>"
                        f"{esc(json.dumps(d['posture'], indent=1))}</pre>")
        png = f"angles_track{tid}.png"
        if png in pngs:
            rows.append(f'<img src="{esc(png)}" alt="angles of track {esc(tid)}" width="900">')
    return ("<!doctype html><html><head><meta charset='utf-8'><title>posekit analysis"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"<h1>posekit analysis</h1><p>analyses: {esc(', '.join(summ['analyses']))}; "
            f"{summ['frames']} frames; {summ['events']} events; analysis cost "
            f"{summ['analysis_us_per_frame']} us/frame</p>" + "".join(rows) + "</body></html>")


class EventsSink:
    """Writes events as JSON Lines, one object per line, flushed after each event, so a
    reader (or a crash) never sees half an event. A context manager; :meth:`close` always
    finalizes the file.

    Raises:
        OutputError: the file cannot be opened or written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)
        except OSError as e:
            raise OutputError(f"cannot write events to {self.path}: {e}") from e

    def write(self, event: dict) -> None:
        """Append one event (NaN becomes null) and flush."""
        if self._f is None:
            raise OutputError(f"events file {self.path} is closed")
        try:
            self._f.write(json.dumps(jsonable(event), separators=(",", ":")) + "\n")
            self._f.flush()
        except OSError as e:
            raise OutputError(f"cannot write events to {self.path}: {e}") from e
        self.count += 1

    def write_all(self, events: Iterable[dict]) -> None:
        for e in events:
            self.write(e)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> EventsSink:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_events(path: str | Path) -> list[dict]:
    """Read a JSON Lines events file written by :class:`EventsSink`."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class AnalysisStage:
    """Pipeline stage: ``update(poses, time_s) -> poses`` (unchanged) running an
    :class:`Analyzer`; the frame's events go to ``sink`` (if any) and to :attr:`last_events`.
    :meth:`close` flushes the analyzer's open events to the sink."""

    def __init__(self, analyzer: Analyzer, sink: EventsSink | None = None):
        self.analyzer, self.sink = analyzer, sink
        self.last_events: list[dict] = []

    def update(self, poses: Poses, time_s: float) -> Poses:
        self.last_events = self.analyzer.update(poses, time_s)
        if self.sink is not None:
            self.sink.write_all(self.last_events)
        return poses

    def close(self) -> None:
        self.last_events = self.analyzer.finish()
        if self.sink is not None:
            self.sink.write_all(self.last_events)
