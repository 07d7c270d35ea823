//! jemalloc profile diff (in progress).
