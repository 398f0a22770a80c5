//! (benchmark, being written)
