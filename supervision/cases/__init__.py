"""The case engine: case types as data (states, transitions, clocks, forms, effects), one engine runs them all."""
