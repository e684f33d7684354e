"""What one ink costs the worker, typical against the worst the ink limits allow.

``python -m inkbus.bench.ink_cost`` runs each ink as a job of its own through the worker's engine
(validation, rendering, pen-path features, forward pass), alone and in a batch of 32 copies, and prints
the CPU time per job (median of repeats) and the peak of Python-allocated memory per job (tracemalloc:
numpy's arrays are counted, torch's are not). The ratio column compares with the typical ink: the bound
the rasteriser's dab budget keeps (ml/raster.py).
"""

from __future__ import annotations

import json
import math
import statistics
import time
import tracemalloc

from bus.schemas import RecognizeJob
from foundation.settings import Settings
from inkbus.bench.common import SAMPLE
from ml.ink import MAX_ABS_COORD, MAX_POINTS, MAX_STROKES
from ml.recognizer import Recognizer
from workers.engine import RecognitionEngine


def zigzag(n: int, size: float = 1.0) -> list:
    return [[0, 0] if i % 2 == 0 else [size, size] for i in range(n)]


def worst_inks() -> dict[str, dict]:
    per = MAX_POINTS // MAX_STROKES
    far = [[(-1) ** i * MAX_ABS_COORD, 0] for i in range(MAX_POINTS)]
    spiral = [[math.cos(i / 7) * i, math.sin(i / 7) * i] for i in range(MAX_POINTS)]
    return {
        "zig-zag (0,0)-(1,1), 4,096 points": {"strokes": [zigzag(MAX_POINTS)]},
        "64 zig-zag strokes of 64 points": {"strokes": [zigzag(per) for _ in range(MAX_STROKES)]},
        "zig-zag across the coordinate range": {"strokes": [far]},
        "spiral, 4,096 points": {"strokes": [spiral]},
        "64 one-point strokes": {"strokes": [[[i, i % 3]] for i in range(MAX_STROKES)]},
        "subnormal extent": {"strokes": [[[0, 0], [5e-324, 0]]]},
        "a 1e-40 wiggle (float32 subnormal features)": {"strokes": [[[-1, 0], [1, 0]], [[0, 1e-40]]]},
    }


def typical_ink() -> dict:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: sum(map(len, r["strokes"])))
    return {"strokes": rows[len(rows) // 2]["strokes"]}  # the median by point count


def cost(engine: RecognitionEngine, ink: dict, batch: int, repeats: int = 7) -> tuple[float, float]:
    """(median CPU ms, peak traced MiB) per job, for a batch of ``batch`` jobs with this ink."""
    jobs = [RecognizeJob(ink=ink) for _ in range(batch)]
    engine.run(jobs)  # warm
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        engine.run(jobs)
        times.append((time.process_time() - t0) * 1000 / batch)
    tracemalloc.start()
    engine.run(jobs)
    peak = tracemalloc.get_traced_memory()[1] / 2**20 / batch
    tracemalloc.stop()
    return statistics.median(times), peak


def main() -> None:
    settings = Settings()
    engine = RecognitionEngine(Recognizer(settings.model_path, torch_threads=1), "bench")
    inks = {"typical (median UNIPEN sample)": typical_ink(), **worst_inks()}
    for batch in (1, 32):
        base = None
        print(f"\nper job, in batches of {batch}")
        print(f"{'ink':42} {'CPU ms':>8} {'x typical':>9} {'peak MiB':>9}")
        for name, ink in inks.items():
            ms, mib = cost(engine, ink, batch)
            base = base or ms
            print(f"{name:42} {ms:8.2f} {ms / base:9.2f} {mib:9.2f}")


if __name__ == "__main__":
    main()
