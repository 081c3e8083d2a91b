"""The verl glue: ``VogueTrainer`` (verl's hooks only), the worker's log-prob stage, the noisy inputs
built while generating, the rollout modes, DAPO's dynamic sampling, the typed config, the
registrations verl loads, verl patches and the dataset with pixel limits (docs/trainer.md)."""
