"""The engine: a runs scheduler, each jobs life, pacing, polling and downloads."""
