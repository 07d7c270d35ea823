//! jemalloc heap profiles (in progress).
