"""yamlgraph: YAML graph files compiled to LangGraph, with human-in-the-loop interrupts.

This package never imports Django; `yamlgraph_django` builds on it.
"""

__version__ = "0.1.0"
