"""Judging and wording evidence: the Maryland level, GRADE certainty, findings, plain English,
selection at a peak and disclosure control."""
