"""VOGUE's pure math, no verl import: the perturbation T, u_per and u_out, the advantage shaping,
the p(s) schedule and the noisy-branch draws (METHOD.md)."""
