"""Repetition counting with hysteresis and form checks, per track.

Each exercise is an :class:`ExerciseSpec`: one angle signal from
:func:`posekit.analysis.features.frame_features` (e.g. the mean knee angle for a squat), a
**rest** threshold (the start position: standing, arms straight, lying back) and an **active**
threshold (the turning zone: squat bottom, curl top), both in degrees. The counter is a small
state machine on the signal smoothed with a time-based exponential filter:

``rest`` --leaves rest--> ``moving`` --passes active--> ``active`` --back to rest--> a rep.

A movement that turns back before the active threshold (a partial squat, a swinging arm) is no
repetition; pauses at either end are harmless; a rep must also span ``min_range`` degrees, last
``min_duration_s`` to ``max_duration_s`` seconds, and happen in the exercise's body position
(``ExerciseSpec.body``: upright for squats, lunges, curls and jumping jacks, horizontal for
push-ups, reclined for sit-ups; the trunk angle from world landmarks where available). The
gap between the two thresholds is the hysteresis, so noise around one threshold cannot count
twice. Counting starts only once
the person has been seen in the start position (a clip that starts mid-rep does not count the
half rep), except that a first sample already closer to rest than to active counts as rest.

Times: ``start_s`` is the last sample at rest before the movement, ``end_s`` the first sample
back at rest, ``bottom_s`` the middle of the plateau around the extreme (within
``max(plateau_deg, 10 % of the range)`` of it, on a centred moving average of the raw signal),
so held bottoms report their middle. "bottom" names the turning point of every exercise: the
lowest squat, the top of a curl, the widest jumping jack, the highest sit-up.

Default thresholds come from the usual joint-angle rep counters (e.g. the MediaPipe pose
classification guide's squat and push-up examples use knee/elbow angles with enter/exit
thresholds) and were checked against the clips in ``shared/data/ANALYTICS.md``; all are
configurable (``ExerciseSpec`` is a frozen dataclass: ``dataclasses.replace(SQUAT, active=100)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

EXERCISES_DOC = "squat, pushup, curl, jumping_jack, lunge, situp"


@dataclass(frozen=True, kw_only=True)
class FormCheck:
    """One form check, evaluated when a repetition completes.

    Attributes:
        name: short id (``"depth"``, ``"back_angle"``, ...).
        feature: key of :func:`~posekit.analysis.features.frame_features` (``{side}`` is
            replaced by ``left``/``right`` for one-sided exercises).
        at: how the rep's samples reduce to one value: ``"bottom"`` (median over the bottom
            plateau), ``"max"``, ``"min"``, ``"median"`` or ``"range"`` (max - min) over the
            whole rep.
        op: ``"<="`` or ``">="``: the rep passes when ``value op threshold``.
        threshold: in the feature's unit (``unit``).
        unit: ``"deg"`` or ``"ratio"``.
        description: a line for reports.
    """

    name: str
    feature: str
    at: str
    op: str
    threshold: float
    unit: str = "deg"
    description: str = ""

    def evaluate(self, values: np.ndarray, bottom_mask: np.ndarray) -> dict:
        """The check's JSON result: name, value, threshold, op, unit, ok (None if unmeasured)."""
        v = values[bottom_mask] if self.at == "bottom" else values
        v = v[np.isfinite(v)]
        if v.size == 0:
            value = float("nan")
        elif self.at == "bottom":
            value = float(np.median(v))
        elif self.at == "max":
            value = float(v.max())
        elif self.at == "min":
            value = float(v.min())
        elif self.at == "range":
            value = float(v.max() - v.min())
        elif self.at == "median":
            value = float(np.median(v))
        else:
            raise ValueError(f"FormCheck.at: expected bottom, max, min, median or range, got "
                             f"{self.at!r}")
        ok = None if not math.isfinite(value) else (
            value <= self.threshold if self.op == "<=" else value >= self.threshold)
        return {"name": self.name, "value": None if ok is None else round(value, 3),
                "threshold": self.threshold, "op": self.op, "unit": self.unit, "ok": ok}


@dataclass(frozen=True, kw_only=True)
class ExerciseSpec:
    """How to count one exercise.

    Attributes:
        name: ``squat``, ``pushup``, ``curl``, ``jumping_jack``, ``lunge``, ``situp`` or yours.
        signal: feature key (degrees) the state machine runs on (``{side}`` for one-sided).
        signal_doc: what the signal is, for events and reports.
        rest: degrees; the signal is at the start position when at or beyond it (beyond =
            away from ``active``).
        active: degrees; a repetition must pass it (the turning zone).
        min_range: degrees between the rest-side peak and the extreme for a rep to count.
        min_duration_s, max_duration_s: allowed rep duration, seconds.
        smoothing_s: time constant of the exponential smoothing, seconds.
        max_gap_s: a signal missing (not visible) for longer forgets the rep in progress.
        plateau_deg: half-width of the bottom plateau used for ``bottom_s``.
        sides: ``("",)`` for one signal, ``("left", "right")`` for one counter per side (curl:
            arms moving together count once, alternating arms count each).
        checks: form checks reported with each rep.
        body: a check on the whole body that a movement must pass to count as this exercise
            at all (e.g. squats and curls are done upright, push-ups horizontal), so that the
            knees bending during a sit-up are no squat and arms folding behind the head during
            a squat are no curls; a movement that fails it is not reported (``rejected``).
    """

    name: str
    signal: str
    signal_doc: str
    rest: float
    active: float
    min_range: float
    min_duration_s: float = 0.5
    max_duration_s: float = 60.0
    smoothing_s: float = 0.1
    max_gap_s: float = 1.0
    plateau_deg: float = 5.0
    sides: tuple[str, ...] = ("",)
    checks: tuple[FormCheck, ...] = ()
    body: FormCheck | None = None

    def __post_init__(self):
        if self.rest == self.active:
            raise ValueError(f"{self.name}: rest and active thresholds must differ")
        if self.min_range <= 0 or self.min_duration_s < 0 or self.max_duration_s <= 0:
            raise ValueError(f"{self.name}: min_range, durations must be positive")


SQUAT = ExerciseSpec(
    name="squat", signal="knee_mean", signal_doc="knee angle (hip-knee-ankle), mean of sides",
    rest=150.0, active=115.0, min_range=40.0, min_duration_s=0.6,
    body=FormCheck(name="upright", feature="body_lean", at="median", op="<=", threshold=50.0,
                   description="trunk angle to vertical (3D where available), median over the rep"),
    checks=(
        FormCheck(name="depth", feature="knee_mean", at="bottom", op="<=", threshold=100.0,
                  description="knee angle at the bottom (about 90-100 = thighs parallel)"),
        FormCheck(name="back_angle", feature="trunk_lean", at="bottom", op="<=", threshold=45.0,
                  description="trunk lean from vertical at the bottom"),
        FormCheck(name="knees_past_toes", feature="knee_over_toe", at="bottom", op="<=",
                  threshold=0.25, unit="ratio",
                  description="knee ahead of the toes at the bottom, in shin lengths"),
    ))

PUSHUP = ExerciseSpec(
    name="pushup", signal="elbow_mean", signal_doc="elbow angle (shoulder-elbow-wrist), mean",
    rest=145.0, active=115.0, min_range=40.0, min_duration_s=0.5,
    body=FormCheck(name="horizontal", feature="body_lean", at="median", op=">=", threshold=50.0,
                   description="trunk angle to vertical (3D where available), median over "
                               "the rep"),
    checks=(
        FormCheck(name="depth", feature="elbow_mean", at="bottom", op="<=", threshold=90.0,
                  description="elbow angle at the bottom"),
        FormCheck(name="body_line", feature="body_line", at="min", op=">=", threshold=150.0,
                  description="shoulder-hip-ankle angle over the rep (sagging or piking "
                              "hips lower it; side view)"),
    ))

CURL = ExerciseSpec(
    name="curl", signal="{side}_elbow", signal_doc="elbow angle (shoulder-elbow-wrist), per arm",
    rest=140.0, active=95.0, min_range=50.0, min_duration_s=0.5, sides=("left", "right"),
    body=FormCheck(name="upright", feature="body_lean", at="median", op="<=", threshold=50.0,
                   description="trunk angle to vertical (3D where available), median over the rep"),
    checks=(
        FormCheck(name="elbow_drift", feature="{side}_shoulder", at="max", op="<=",
                  threshold=35.0,
                  description="upper arm angle to the trunk (hip-shoulder-elbow) over the rep"),
        FormCheck(name="torso_swing", feature="trunk_lean", at="range", op="<=", threshold=10.0,
                  description="change of trunk lean during the rep (swinging the weight up)"),
    ))

JUMPING_JACK = ExerciseSpec(
    name="jumping_jack", signal="shoulder_mean",
    signal_doc="arm abduction (hip-shoulder-elbow), mean of sides",
    rest=45.0, active=120.0, min_range=60.0, min_duration_s=0.4,
    body=FormCheck(name="upright", feature="body_lean", at="median", op="<=", threshold=50.0,
                   description="trunk angle to vertical (3D where available), median over the rep"),
    checks=(
        FormCheck(name="arms_overhead", feature="shoulder_mean", at="max", op=">=",
                  threshold=140.0, description="arm abduction at the top"),
        FormCheck(name="feet_apart", feature="ankle_spread", at="max", op=">=", threshold=1.3,
                  unit="ratio", description="ankle distance / shoulder width at the widest"),
    ))

LUNGE = ExerciseSpec(
    name="lunge", signal="knee_min", signal_doc="knee angle of the more bent (front) leg",
    rest=150.0, active=115.0, min_range=40.0, min_duration_s=0.6,
    body=FormCheck(name="upright", feature="body_lean", at="median", op="<=", threshold=50.0,
                   description="trunk angle to vertical (3D where available), median over the rep"),
    checks=(
        FormCheck(name="depth", feature="knee_min", at="bottom", op="<=", threshold=100.0,
                  description="front knee angle at the bottom"),
        FormCheck(name="upright_trunk", feature="trunk_lean", at="bottom", op="<=",
                  threshold=20.0, description="trunk lean from vertical at the bottom"),
        FormCheck(name="knees_past_toes", feature="knee_over_toe", at="bottom", op="<=",
                  threshold=0.25, unit="ratio",
                  description="knee ahead of the toes at the bottom, in shin lengths"),
    ))

# Sit-up thresholds on the image-plane hip angle, measured on medaipipe/situps.mp4 (oblique
# high view, ANALYTICS.md; the reference poses sampled at 12 and 6 fps): the mean of the sides
# peaks at 85-98 deg lying back and bottoms out at 51-57 deg crunched. One side jitters by up
# to 15 deg between frames (BlazePose places the knee of his prosthetic leg badly), so the mean
# jitters by up to about 8 deg, and the last lie-back, cut by the end of the clip two frames
# after it, peaks at only 78.6 (6 fps) to 85 deg (12 fps). ``rest`` 75 stays at least 3.6 deg
# below every lie-back peak with 10 deg of hysteresis above ``active`` 65, which stays at least
# 7.6 deg above every crunch.
SITUP = ExerciseSpec(
    name="situp", signal="hip_mean", signal_doc="hip angle (shoulder-hip-knee), mean of sides",
    rest=75.0, active=65.0, min_range=20.0, min_duration_s=0.5, plateau_deg=3.0,
    body=FormCheck(name="reclined", feature="body_lean", at="median", op=">=", threshold=40.0,
                   description="trunk angle to vertical (3D where available), median over "
                               "the rep"),
    checks=(
        FormCheck(name="height", feature="hip_mean", at="bottom", op="<=", threshold=60.0,
                  description="hip angle at the top (trunk curled towards the thighs)"),
    ))

EXERCISES: dict[str, ExerciseSpec] = {s.name: s for s in
                                      (SQUAT, PUSHUP, CURL, JUMPING_JACK, LUNGE, SITUP)}


def exercise(name: str) -> ExerciseSpec:
    """The built-in :class:`ExerciseSpec` called ``name``.

    Raises:
        KeyError: unknown name ("expected one of ...").
    """
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"unknown exercise {name!r}; expected one of "
                       f"{', '.join(EXERCISES)}") from None


class ExponentialAverage:
    """Exponential smoothing with a time constant in seconds (irregular sample times allowed):
    ``y += (1 - exp(-dt / tau)) * (x - y)``; restarts after a gap longer than ``max_gap_s``."""

    def __init__(self, tau_s: float, max_gap_s: float = 1.0):
        self.tau_s, self.max_gap_s = tau_s, max_gap_s
        self.y: float | None = None
        self.t: float | None = None

    def __call__(self, t: float, x: float) -> float:
        if self.y is None or self.t is None or t - self.t > self.max_gap_s or self.tau_s <= 0:
            self.y = x
        else:
            a = 1.0 - math.exp(-max(t - self.t, 0.0) / self.tau_s)
            self.y += a * (x - self.y)
        self.t = t
        return self.y

    def reset(self) -> None:
        self.y = self.t = None


def _centred_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average of odd width ``k`` that skips NaNs (edges use fewer samples)."""
    if k <= 1 or x.size == 0:
        return x.copy()
    ok = np.isfinite(x)
    v = np.where(ok, x, 0.0)
    ker = np.ones(k)
    s = np.convolve(v, ker, mode="same")
    c = np.convolve(ok.astype(float), ker, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / c, np.nan)


@dataclass
class _Sample:
    t: float
    raw: float
    feats: dict


@dataclass
class RepCounter:
    """The state machine for one signal (one side) of one track. Feed it with :meth:`update`.

    Attributes:
        state: ``"unknown"``, ``"rest"``, ``"moving"`` or ``"active"``.
        count: completed repetitions.
        value: latest smoothed signal (degrees) or NaN.
        partials: movements that left rest and came back without passing ``active`` (or
            too short, too long, too small).
        rejected: full movements whose body position does not fit the exercise
            (:attr:`ExerciseSpec.body`).
    """

    spec: ExerciseSpec
    side: str = ""
    state: str = "unknown"
    count: int = 0
    partials: int = 0
    rejected: int = 0
    value: float = float("nan")
    _smooth: ExponentialAverage = field(init=False)
    _sign: float = field(init=False)
    _buf: list = field(default_factory=list, init=False)
    _last_rest: _Sample | None = field(default=None, init=False)
    _rest_peak: float = field(default=float("nan"), init=False)
    _last_valid_t: float | None = field(default=None, init=False)
    _dts: list = field(default_factory=list, init=False)

    def __post_init__(self):
        self._smooth = ExponentialAverage(self.spec.smoothing_s, self.spec.max_gap_s)
        self._sign = 1.0 if self.spec.active > self.spec.rest else -1.0

    @property
    def signal_name(self) -> str:
        return self.spec.signal.replace("{side}", self.side)

    def _u(self, v: float) -> float:
        """The signal in "towards active is larger" units."""
        return self._sign * v

    def reset(self) -> None:
        self.state = "unknown"
        self._buf = []
        self._last_rest = None
        self._rest_peak = float("nan")
        self._smooth.reset()

    def update(self, time_s: float, feats: dict) -> dict | None:
        """Advance with one frame's features; returns a completed rep's dict or None.

        The rep dict has ``start_s``, ``bottom_s``, ``end_s``, ``duration_s``, ``bottom_deg``,
        ``rest_deg``, ``range_deg``, ``checks`` and ``side`` (no ``type``/``track_id``: the
        :class:`~posekit.analysis.Analyzer` adds those).
        """
        sp = self.spec
        raw = feats.get(self.signal_name, float("nan"))
        if not math.isfinite(raw):
            if self._last_valid_t is not None and time_s - self._last_valid_t > sp.max_gap_s:
                if self.state in ("moving", "active"):
                    self.state = "unknown"
                    self._buf = []
                elif self.state == "rest":
                    self.state = "unknown"
                self.value = float("nan")
            return None
        if self._last_valid_t is not None:
            dt = time_s - self._last_valid_t
            if 0 < dt <= sp.max_gap_s:
                self._dts = (self._dts + [dt])[-30:]
            elif dt > sp.max_gap_s:
                self.reset()
        self._last_valid_t = time_s
        s = self._smooth(time_s, raw)
        self.value = s
        u, rest_u, act_u = self._u(s), self._u(sp.rest), self._u(sp.active)
        at_rest, past_active = u <= rest_u, u >= act_u
        sample = _Sample(time_s, raw, feats)

        if self.state == "unknown":
            first = self._last_rest is None and not self._buf
            if at_rest or (first and u <= 0.5 * (rest_u + act_u)):
                self.state = "rest"
                self._last_rest = sample
                self._rest_peak = u
            return None
        if self.state == "rest":
            if at_rest:
                self._last_rest = sample
                self._rest_peak = u if not math.isfinite(self._rest_peak) else min(
                    self._rest_peak, u)
                return None
            self.state = "moving"
            self._buf = [self._last_rest, sample] if self._last_rest else [sample]
            if past_active:
                self.state = "active"
            return None
        # moving or active
        self._buf.append(sample)
        if self._buf and time_s - self._buf[0].t > sp.max_duration_s:
            self.state, self._buf = "unknown", []
            return None
        if self.state == "moving":
            if past_active:
                self.state = "active"
            elif at_rest:
                self.partials += 1
                self.state = "rest"
                self._last_rest = sample
                self._buf = []
            return None
        if not at_rest:
            return None
        # back at rest after passing active: a candidate repetition
        rep = self._finish_rep()
        self.state = "rest"
        self._last_rest = sample
        self._rest_peak = u
        self._buf = []
        return rep

    def _finish_rep(self) -> dict | None:
        sp = self.spec
        buf = self._buf
        t = np.array([b.t for b in buf])
        raw = np.array([b.raw for b in buf], np.float64)
        dt = float(np.median(self._dts)) if self._dts else 0.05
        k = max(1, round(2 * sp.smoothing_s / max(dt, 1e-3)))
        k += (k + 1) % 2
        sm = _centred_mean(raw, k)
        u = self._sign * sm
        if not np.isfinite(u).any():
            return None
        i_ext = int(np.nanargmax(u))
        ext_u = float(u[i_ext])
        rest_u = min(self._rest_peak if math.isfinite(self._rest_peak) else u[0], u[0], u[-1])
        rng = ext_u - rest_u
        duration = float(t[-1] - t[0])
        if rng < sp.min_range or not (sp.min_duration_s <= duration <= sp.max_duration_s):
            self.partials += 1
            return None
        tol = max(sp.plateau_deg, 0.1 * rng)
        near = u >= ext_u - tol
        lo = hi = i_ext
        while lo > 0 and near[lo - 1]:
            lo -= 1
        while hi < len(u) - 1 and near[hi + 1]:
            hi += 1
        mask = np.zeros(len(u), bool)
        mask[lo:hi + 1] = True
        if sp.body is not None:
            vals = np.array([b.feats.get(sp.body.feature, np.nan) for b in buf], np.float64)
            gate = sp.body.evaluate(vals, mask)
            if gate["ok"] is False:
                self.rejected += 1
                return None
        self.count += 1
        checks = []
        for c in sp.checks:
            key = c.feature.replace("{side}", self.side)
            vals = np.array([b.feats.get(key, np.nan) for b in buf], np.float64)
            checks.append(c.evaluate(vals, mask))
        oks = [c["ok"] for c in checks if c["ok"] is not None]
        return {
            "side": self.side or "both",
            "start_s": round(float(t[0]), 4),
            "bottom_s": round(float(0.5 * (t[lo] + t[hi])), 4),
            "end_s": round(float(t[-1]), 4),
            "duration_s": round(duration, 4),
            "signal": self.signal_name,
            "signal_doc": sp.signal_doc,
            "bottom_deg": round(self._sign * ext_u, 2),
            "rest_deg": round(self._sign * rest_u, 2),
            "range_deg": round(rng, 2),
            "thresholds": {"rest": sp.rest, "active": sp.active, "min_range": sp.min_range},
            "checks": checks,
            "form_ok": all(oks) if oks else None,
        }


class ExerciseCounter:
    """All the :class:`RepCounter` of one exercise for one track (one per side).

    With two sides, a rep on one side that overlaps the other side's last counted rep by more
    than half of the shorter one is the same repetition (both arms together) and is not counted
    again.
    """

    def __init__(self, spec: ExerciseSpec):
        self.spec = spec
        self.counters = [RepCounter(spec, side) for side in spec.sides]
        self.count = 0
        self.reps: list[dict] = []

    @property
    def value(self) -> float:
        """Latest smoothed signal (the side nearest its active threshold), degrees or NaN."""
        vals = [c.value for c in self.counters if math.isfinite(c.value)]
        if not vals:
            return float("nan")
        sign = 1.0 if self.spec.active > self.spec.rest else -1.0
        return max(vals, key=lambda v: sign * v)

    @property
    def state(self) -> str:
        order = ("active", "moving", "rest", "unknown")
        return min((c.state for c in self.counters), key=order.index)

    def update(self, time_s: float, feats: dict) -> list[dict]:
        out = []
        for c in self.counters:
            rep = c.update(time_s, feats)
            if rep is None:
                continue
            if self._duplicate(rep):
                continue
            self.count += 1
            rep = {"exercise": self.spec.name, "rep": self.count, **rep}
            self.reps.append(rep)
            out.append(rep)
        return out

    def _duplicate(self, rep: dict) -> bool:
        for prev in reversed(self.reps[-2:]):
            if prev["side"] == rep["side"]:
                continue
            ov = min(prev["end_s"], rep["end_s"]) - max(prev["start_s"], rep["start_s"])
            shorter = min(prev["duration_s"], rep["duration_s"])
            if shorter > 0 and ov > 0.5 * shorter:
                return True
        return False


def count_reps(times: np.ndarray, features: list[dict], spec: ExerciseSpec | str) -> list[dict]:
    """Offline helper: run one :class:`ExerciseCounter` over a feature sequence.

    Args:
        times: (T,) seconds, increasing.
        features: T dicts from :func:`~posekit.analysis.features.frame_features` (one person).
        spec: an :class:`ExerciseSpec` or a built-in exercise name.

    Returns:
        The completed reps in order (dicts as in :meth:`RepCounter.update` plus ``exercise``).
    """
    spec = exercise(spec) if isinstance(spec, str) else spec
    ec = ExerciseCounter(spec)
    out: list[dict] = []
    for t, f in zip(times, features):
        out += ec.update(float(t), f)
    return out
