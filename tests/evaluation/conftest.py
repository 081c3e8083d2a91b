"""Make the fixture builders importable as ``evaluation_fixtures`` (pytest runs in importlib mode)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
