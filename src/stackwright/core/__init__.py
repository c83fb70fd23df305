"""The core: spec, graph, planner, executor, state. It knows no target technology."""
