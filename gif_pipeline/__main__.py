"""``python -m gif_pipeline`` is the ``gifnets`` command."""
import sys

from gif_pipeline.cli import main

sys.exit(main())
