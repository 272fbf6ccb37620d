"""The engine: executes a plan against ARM, wave by wave, and records everything in the journal."""
