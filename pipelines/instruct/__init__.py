"""Instruction data from The Cauldron's sources: declarative converters (``converter``,
``sources``), The Cauldron's text rules (``text``) and the ``run instruct`` job (``job``)."""
