"""One module per group of `sanp` commands; `sanp.cli` parses the options, maps errors
to exit codes and dispatches here."""
