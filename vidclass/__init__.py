"""vidclass: what is happening in this video? I3D (Kinetics-400) through ONNX Runtime.

The Python API, under the CLI::

    from vidclass import Classifier, Settings, run, expand_inputs
    clf = Classifier(settings=Settings(top_k=3))
    clf.predict("clip.mp4")                                  # one file -> ClipResult
    for index, result in run(clf, expand_inputs(["videos/"]), workers=2):
        ...                                                  # many inputs, as they finish
"""

from .classifier import Classifier
from .engines import Engine, run
from .errors import VidclassError
from .results import ClipLabel, ClipResult, ErrorResult, LabelScore, Segment, Timeline, WindowResult
from .segments import SegmentRule
from .settings import Mode, Precision, Provider, Settings
from .sources import expand_inputs
from .spec import ModelSpec
from .version import __version__

__all__ = [
    "Classifier",
    "ClipLabel",
    "ClipResult",
    "Engine",
    "ErrorResult",
    "LabelScore",
    "Mode",
    "ModelSpec",
    "Precision",
    "Provider",
    "Segment",
    "SegmentRule",
    "Settings",
    "Timeline",
    "VidclassError",
    "WindowResult",
    "__version__",
    "expand_inputs",
    "run",
]
