"""Make the fixture builders importable as ``data_prep_fixtures`` (pytest runs in importlib mode, and
verl's wheel owns the top-level name ``tests``)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
