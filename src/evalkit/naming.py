"""Names evalkit gives things: the rule for a scheme's name."""

from __future__ import annotations

import re

__all__ = ["SCHEME_NAME"]

#: A scheme's name: lower-case letters, digits and hyphens (it names folders and files).
SCHEME_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
