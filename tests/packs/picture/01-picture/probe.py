"""Never run: the snapshot tests script their events."""

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]


def weights(problem):
    raise NotImplementedError
