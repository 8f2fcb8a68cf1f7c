"""What the worker imports once, before any fork, so every run starts with it in memory.

The server and the cold child (``python -m tutor.worker.child``) both call ``warm_up``;
it lives here so that neither imports the other.
"""

from __future__ import annotations

import contextlib
import importlib


def warm_up() -> None:
    """Import everything a run needs, so forked children start with it in memory."""
    import _pytest.config
    import pytest  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401

    # Bound to the real torch before any learner code exists (see tutor.worker.guard).
    import tutor.kit
    import tutor.worker.child  # noqa: F401 - the cold child runs as __main__
    from tutor.worker import guard

    for name in _pytest.config.default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")
    # torch loads these lazily on the first shape error, which is most learners' first run.
    for name in ("torch.fx.experimental.symbolic_shapes", "torch._subclasses.schema_check_mode"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    guard.prepare()  # last: what every run's guard starts from
