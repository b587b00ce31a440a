"""`make bench`: each ``bench_*.py`` module has ``main() -> str`` returning a Markdown
section; ``python -m benchmarks [name …]`` runs them and rewrites RESULTS.md."""
