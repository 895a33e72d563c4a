//! loam
