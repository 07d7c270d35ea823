//! The types every stage shares, below `trace`, `detect` and `report`: typed path steps and
//! leaks with structured evidence. Identity — matching across snapshots, fingerprints,
//! de-duplication, `--ignore` — is computed from these, never from rendered text; the
//! report turns them into words.

pub mod leak;
pub mod path;

pub use leak::*;
pub use path::*;
