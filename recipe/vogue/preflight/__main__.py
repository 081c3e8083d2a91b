import sys

from recipe.vogue.preflight.checks import main

sys.exit(main())
