from problem import attend


def test_attend():
    assert attend() == 1
