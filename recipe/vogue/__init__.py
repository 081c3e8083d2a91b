"""VOGUE on verl: visual-uncertainty-guided exploration for multimodal RLVR.

Floors, lowest first (a module imports only from its own floor or lower ones; tests/test_layout.py):
``core`` (pure math, no verl), ``evaluation``, ``trainer`` (the verl glue), ``preflight``, ``cpu`` (only for
runs without a GPU), then the entry points ``main_vogue``, ``evaluate`` and ``report`` in this folder.
"""
