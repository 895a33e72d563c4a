//! loam-systems
