"""VOGUE on verl: visual-uncertainty-guided exploration for multimodal RLVR.

The pure math lives in ``perturb``, ``uncertainty``, ``shaping`` and ``schedule`` (no verl, no Ray);
the verl glue (trainer, worker, CPU backend) imports verl lazily in its own modules.
"""
