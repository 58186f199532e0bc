//! The canonical allowed-flow matrix as rows (spec §6).
