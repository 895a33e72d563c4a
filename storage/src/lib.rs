//! loam-storage
