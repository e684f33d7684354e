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

# The metadata file inside every exported artifact (ml/artifact.py writes it, ml/registry.py reads it).
META_NAME = "inkbus.json"
