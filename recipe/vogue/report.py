"""``python -m recipe.vogue.report``: tables and plots comparing evaluation runs (``recipe.vogue.evaluation.report``;
docs/evaluation.md)."""

import sys

from recipe.vogue.evaluation.report import main

if __name__ == "__main__":
    sys.exit(main())
