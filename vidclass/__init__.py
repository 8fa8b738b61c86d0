"""vidclass: what is happening in this video? I3D (Kinetics-400) through ONNX Runtime."""

from .classifier import Classifier
from .errors import VidclassError
from .results import ClipLabel, ClipResult, ErrorResult, LabelScore, Segment, Timeline, WindowResult
from .segments import SegmentRule
from .spec import ModelSpec

__version__ = "0.1.0"
__all__ = [
    "Classifier",
    "ClipLabel",
    "ClipResult",
    "ErrorResult",
    "LabelScore",
    "ModelSpec",
    "Segment",
    "SegmentRule",
    "Timeline",
    "VidclassError",
    "WindowResult",
    "__version__",
]
