"""Run human-in-the-loop YAML graphs (yamlgraph on LangGraph) inside Django."""
