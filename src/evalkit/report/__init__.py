"""The reports: the sections of the evidence summary and the comparative synthesis, their
figures, checklist and title; ``report.render`` holds the engines."""
