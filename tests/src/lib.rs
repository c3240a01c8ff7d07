//! Cross-crate tests of the MPTCP stack live in `tests/`; the data they share (kernel traces,
//! crypto vectors) lives in `data/`. This library is empty on purpose.
