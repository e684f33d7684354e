"""What every part of Inkbus builds on and that imports nothing of the project: the one ``Settings``
(``settings.py``), the allowed values of enum-like settings (``choices.py``), structured logs (``logs.py``),
the start-up heap freeze (``heap.py``), the HTTP error body (``http_errors.py``) and bounded JSON parsing
(``safejson.py``). The CLI and the benchmark (``inkbus/``) sit on top of everything else."""
