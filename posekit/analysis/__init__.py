"""Motion analytics over :class:`~posekit.types.Poses` and time (seconds), per track.

- :mod:`.angles`: joint angles (image plane and 3D), the named set, time series.
- :mod:`.reps`: repetition counting with hysteresis and form checks (squat, pushup, curl,
  jumping_jack, lunge, situp).
- :mod:`.cycles`: class-agnostic repetition counting (``reps``: any repeated movement, with
  start, turning point and end times) and the exercise label.
- :mod:`.posture`: forward head, rounded/tilted shoulders, trunk lean; time beyond limits.
- :mod:`.falls`: fall detection (onset, ground, confidence), in the image and in the feet
  frame (a moving camera).
- :mod:`.camera`: :class:`~.camera.CameraMotion`, the camera's own motion from the background
  (a stage over the images; poses in a stabilised frame for the analyses).
- :mod:`.gestures`: one- and two-hand wave, hands up, T-pose, pointing.
- :mod:`.events`: the :class:`Analyzer` stage, :class:`EventsSink` (JSON Lines) and the summary.
- :mod:`.overlay`: :func:`draw_analysis` (counters, angle arcs, fall alert).

>>> analyzer = Analyzer("squat,posture,falls")                     # doctest: +SKIP
>>> events = analyzer.update(poses, frame.time_s)                  # doctest: +SKIP
"""

from .angles import (
    ANGLE_NAMES,
    JOINTS,
    AngleSeries,
    AngleTracker,
    angle_at,
    angle_between,
    angle_to_vertical,
    compute_angles,
    joint_angle,
)
from .events import (
    ANALYSES,
    AnalysisError,
    AnalysisStage,
    Analyzer,
    EventsSink,
    parse_analyses,
    read_events,
)
from .cycles import CycleConfig, RepFinder, count_cycles, label_exercise
from .falls import FallConfig, FallDetector, FallMonitor
from .features import frame_features
from .gestures import GESTURES, GestureConfig, GestureDetector
from .posture import POSTURE_NAMES, PostureConfig, PostureMonitor, posture_angles
from .reps import (
    EXERCISES,
    ExerciseCounter,
    ExerciseSpec,
    FormCheck,
    RepCounter,
    count_reps,
    exercise,
)


def draw_analysis(image_bgr, poses, analyzer):
    """Overlay counters, angle arcs and the fall alert (see :func:`.overlay.draw_analysis`;
    imported lazily so that the analysis itself does not need OpenCV)."""
    from .overlay import draw_analysis as _draw

    return _draw(image_bgr, poses, analyzer)


__all__ = [
    "ANALYSES",
    "ANGLE_NAMES",
    "EXERCISES",
    "GESTURES",
    "JOINTS",
    "POSTURE_NAMES",
    "AnalysisError",
    "AnalysisStage",
    "Analyzer",
    "AngleSeries",
    "AngleTracker",
    "CycleConfig",
    "EventsSink",
    "ExerciseCounter",
    "ExerciseSpec",
    "FallConfig",
    "FallDetector",
    "FallMonitor",
    "FormCheck",
    "GestureConfig",
    "GestureDetector",
    "PostureConfig",
    "PostureMonitor",
    "RepCounter",
    "RepFinder",
    "angle_at",
    "angle_between",
    "angle_to_vertical",
    "compute_angles",
    "count_cycles",
    "count_reps",
    "draw_analysis",
    "exercise",
    "frame_features",
    "joint_angle",
    "label_exercise",
    "parse_analyses",
    "posture_angles",
    "read_events",
]
