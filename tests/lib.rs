//! Black-box tests of the `carnet` binary; see `tests/` in this folder.
