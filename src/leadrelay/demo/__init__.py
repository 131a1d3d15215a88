"""The demo simulator: a seeded B2B site, a sales floor and a deal desk driving the real services.

A client of the concepts' services, not one of them: it imports them, never the
reverse (an import-linter contract in pyproject.toml holds this). `leadrelay demo` runs
`run.run_demo`; `stream.generate_demo_stream` also feeds the benchmarks and tests.
"""
