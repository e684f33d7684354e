import gc

from foundation.heap import freeze_startup_heap


def test_freezing_exempts_what_lives_now_and_still_collects_later_garbage():
    keep = [{"n": i} for i in range(1000)]
    try:
        frozen = freeze_startup_heap()
        # frozen objects that die (another thread's, say) leave the permanent generation: at most what was frozen
        assert frozen >= len(keep) and len(keep) <= gc.get_freeze_count() <= frozen
        cycle = []
        cycle.append(cycle)  # garbage made after the freeze: only the collector can free a cycle
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()  # the rest of the test session keeps the collector as it was
