"""Evaluation: pass@k / maj@k / benchmark metrics (``metrics``), the evaluation run (``run``), validation
metrics in training (``validation``), reports and plots (``report``) and the optional LLM judge
(``judge``) (docs/evaluation.md)."""
