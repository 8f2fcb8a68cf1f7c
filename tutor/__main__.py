"""``python -m tutor`` is ``attn-tutor``."""

from tutor.cli import main

main()
