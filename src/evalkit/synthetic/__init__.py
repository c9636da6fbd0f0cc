"""Synthetic case studies of collaborative-working schemes (all data synthetic)."""

from evalkit.synthetic.generate import OUTCOMES, UNIT_COSTS, CaseStudy, generate
from evalkit.synthetic.schemes import SCHEMES, SchemeDef, scheme_names
from evalkit.synthetic.write import scheme_files, spec_for, synth, synth_each

__all__ = ["SCHEMES", "SchemeDef", "scheme_names", "generate", "CaseStudy", "synth", "synth_each",
           "scheme_files", "spec_for", "OUTCOMES", "UNIT_COSTS"]
