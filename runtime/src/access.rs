//! Declared resource access of a job, as a value with set logic.
//!
//! Two accesses conflict when one writes a resource the other reads or
//! writes. [`Access::conflicts`] names the resources, so a scheduler (or a
//! person reading a graph dump) can say *why* two jobs are ordered.

use std::any::{type_name, TypeId};

/// One resource a job touches: its type and a readable name.
#[derive(Clone, Copy, Debug, Eq)]
pub struct ResourceKey {
    /// The resource's Rust type.
    pub id: TypeId,
    /// `std::any::type_name` of the resource, for messages.
    pub name: &'static str,
}

impl ResourceKey {
    /// The key of resource type `T`.
    pub fn of<T: 'static>() -> Self {
        Self {
            id: TypeId::of::<T>(),
            name: type_name::<T>(),
        }
    }
}

impl PartialEq for ResourceKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// The resources a job reads and writes.
///
/// A resource that is written is not also listed as read; writing implies
/// reading.
#[derive(Clone, Debug, Default)]
pub struct Access {
    reads: Vec<ResourceKey>,
    writes: Vec<ResourceKey>,
}

impl Access {
    /// An access that touches nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a read of `key` (ignored if it is already written).
    pub fn add_read(&mut self, key: ResourceKey) {
        if !self.writes.contains(&key) && !self.reads.contains(&key) {
            self.reads.push(key);
        }
    }

    /// Adds a write of `key` (upgrading a read if there was one).
    pub fn add_write(&mut self, key: ResourceKey) {
        self.reads.retain(|k| *k != key);
        if !self.writes.contains(&key) {
            self.writes.push(key);
        }
    }

    /// Merges `other` into `self`: the union of both.
    pub fn extend(&mut self, other: &Access) {
        for &w in &other.writes {
            self.add_write(w);
        }
        for &r in &other.reads {
            self.add_read(r);
        }
    }

    /// Whether the access allows reading `id`.
    pub fn can_read(&self, id: TypeId) -> bool {
        self.reads.iter().chain(&self.writes).any(|k| k.id == id)
    }

    /// Whether the access allows writing `id`.
    pub fn can_write(&self, id: TypeId) -> bool {
        self.writes.iter().any(|k| k.id == id)
    }

    /// Resources only read.
    pub fn reads(&self) -> &[ResourceKey] {
        &self.reads
    }

    /// Resources written (and read).
    pub fn writes(&self) -> &[ResourceKey] {
        &self.writes
    }

    /// The resources over which `self` and `other` conflict: written by one
    /// and read or written by the other. Empty means they may run together.
    pub fn conflicts(&self, other: &Access) -> Vec<ResourceKey> {
        let mut out = Vec::new();
        for w in &self.writes {
            if other.can_read(w.id) {
                out.push(*w);
            }
        }
        for w in &other.writes {
            if self.reads.contains(w) {
                out.push(*w);
            }
        }
        out
    }

    /// Whether `self` and `other` must not run at the same time.
    pub fn is_conflicting(&self, other: &Access) -> bool {
        self.writes.iter().any(|w| other.can_read(w.id))
            || other.writes.iter().any(|w| self.reads.contains(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;
    struct C;

    fn access(reads: &[ResourceKey], writes: &[ResourceKey]) -> Access {
        let mut a = Access::new();
        reads.iter().for_each(|&k| a.add_read(k));
        writes.iter().for_each(|&k| a.add_write(k));
        a
    }

    #[test]
    fn readers_share() {
        let x = access(&[ResourceKey::of::<A>()], &[]);
        let y = access(&[ResourceKey::of::<A>()], &[ResourceKey::of::<B>()]);
        assert!(!x.is_conflicting(&y));
        assert!(x.conflicts(&y).is_empty());
    }

    #[test]
    fn writer_conflicts_with_reader_and_names_the_resource() {
        let x = access(&[ResourceKey::of::<A>()], &[ResourceKey::of::<C>()]);
        let y = access(&[ResourceKey::of::<C>()], &[]);
        assert!(x.is_conflicting(&y) && y.is_conflicting(&x));
        let names: Vec<_> = x.conflicts(&y).iter().map(|k| k.name).collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].ends_with("::C"));
    }

    #[test]
    fn two_writers_conflict_once() {
        let x = access(&[], &[ResourceKey::of::<A>()]);
        let y = access(&[], &[ResourceKey::of::<A>(), ResourceKey::of::<B>()]);
        assert_eq!(x.conflicts(&y).len(), 1);
    }

    #[test]
    fn write_upgrades_read_and_union_keeps_writes() {
        let mut x = access(&[ResourceKey::of::<A>()], &[]);
        x.add_write(ResourceKey::of::<A>());
        assert!(x.reads().is_empty());
        assert!(x.can_write(TypeId::of::<A>()));
        let mut y = access(&[ResourceKey::of::<B>()], &[]);
        y.extend(&x);
        assert!(y.can_write(TypeId::of::<A>()) && y.can_read(TypeId::of::<B>()));
        assert!(!y.can_write(TypeId::of::<B>()));
    }
}
