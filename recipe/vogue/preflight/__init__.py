"""The preflight (``python -m recipe.vogue.preflight``): the checks (``checks``) and the paired pass's
memory and cost model (``cost_model``) (docs/cluster.md)."""
