"""Rule-based verifiers for VOGUE's reward (0.9·accuracy + 0.1·format, METHOD.md §6)."""
