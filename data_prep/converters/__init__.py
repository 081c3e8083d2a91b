"""One module per source dataset; ``SPECS`` maps each CLI name to its ``DatasetSpec``."""

from data_prep.converters import (
    chartqa,
    geo3k,
    hallusionbench,
    logicvista,
    mathverse,
    mathvision,
    mathvista,
    mmk12,
    mmmu,
    mmrl30k,
    mmstar,
    virl39k,
    wemath,
)
from data_prep.converters.common import DatasetSpec

TRAINING = (mmrl30k.SPEC, geo3k.SPEC, virl39k.SPEC, mmk12.SPEC)
EVALUATION = tuple(
    module.SPEC
    for module in (mathverse, mathvista, wemath, hallusionbench, chartqa, logicvista, mathvision, mmmu, mmstar)
)
SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in TRAINING + EVALUATION}
