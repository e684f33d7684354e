"""The one place that defines image geometry, the class map and the preprocessing version.

Training, serving, workers and tests import these names; the exported artifact also carries
them, and the loader refuses an artifact whose preprocessing version it cannot reproduce.
"""

IMAGE_SIZE = 28
BOX_SIZE = 20  # the character's bounding box is scaled into BOX_SIZE x BOX_SIZE, MNIST style
CLASSES: tuple[str, ...] = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
NUM_CLASSES = len(CLASSES)
CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}

DIGITS = CLASSES[:10]
UPPER = CLASSES[10:36]
LOWER = CLASSES[36:]
# Letters whose upper and lower case look alike once size is normalised away (EMNIST's merge list).
CASE_FOLDED = "cijklmopsuvwxyz"

# Bump when the rasteriser's output changes in a way a trained model would notice.
PREPROCESSING_VERSION = "raster-v1"

# Characters that are one shape: a recogniser that normalises size away cannot tell them apart, so
# grading treats them as that shape. The 15 case twins above, and two groups across categories.
SHAPE_GROUPS: tuple[str, ...] = ("0oO", "1lI")


def _shape_pairs() -> frozenset[tuple[str, str]]:
    pairs = {(c, c.upper()) for c in CASE_FOLDED}
    pairs |= {(a, b) for group in SHAPE_GROUPS for a in group for b in group if a != b}
    return frozenset(pairs | {(b, a) for a, b in pairs})


SAME_SHAPE = _shape_pairs()


def same_shape(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are one shape (never for a character and itself)."""
    return (a, b) in SAME_SHAPE


def shape_of(char: str) -> str:
    """``char`` and every character of its shape, ``char`` first: ``shape_of("0") == "0oO"``."""
    return char + "".join(c for c in CLASSES if same_shape(char, c))


# The metadata file inside every exported artifact (ml/artifact.py writes it, ml/registry.py reads it).
META_NAME = "inkbus.json"
