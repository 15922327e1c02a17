//! Dockerfile generation (in progress).
