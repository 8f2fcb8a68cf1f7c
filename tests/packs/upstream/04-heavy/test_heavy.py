import time

from problem import total


def test_total_after_a_long_computation():
    time.sleep(1.5)  # stands for a forward pass that takes a while
    assert total([1, 2, 3]) == 6
