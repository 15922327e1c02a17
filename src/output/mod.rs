//! The one output layer: data to stdout, progress and diagnostics to stderr.
