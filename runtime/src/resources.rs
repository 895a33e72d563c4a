//! The resource registry: one value per type, borrowed by jobs through locks
//! that are never contended when the job graph is right.
//!
//! The graph guarantees that no two jobs with conflicting [`Access`](crate::Access)
//! run at once, so every lock taken here is free. The lock is still there:
//! it turns a scheduling bug into an error instead of undefined behaviour.

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

type Slot = RwLock<Box<dyn Any + Send + Sync>>;

/// Typed values held once each, shared by all jobs.
#[derive(Default)]
pub struct Resources {
    slots: HashMap<TypeId, Slot>,
}

/// A shared borrow of resource `T`.
pub struct Res<'a, T: 'static> {
    guard: RwLockReadGuard<'a, Box<dyn Any + Send + Sync>>,
    _marker: std::marker::PhantomData<&'a T>,
}

/// An exclusive borrow of resource `T`.
pub struct ResMut<'a, T: 'static> {
    guard: RwLockWriteGuard<'a, Box<dyn Any + Send + Sync>>,
    _marker: std::marker::PhantomData<&'a mut T>,
}

/// Why a borrow failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BorrowError {
    /// No resource of this type was inserted.
    #[error("no resource of this type was inserted")]
    Missing,
    /// Another borrow holds it (a job graph bug, never expected).
    #[error("the resource is borrowed elsewhere")]
    Busy,
}

impl Resources {
    /// Inserts or replaces the resource of type `T`.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.slots
            .insert(TypeId::of::<T>(), RwLock::new(Box::new(value)));
    }

    /// Removes and returns the resource of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        let slot = self.slots.remove(&TypeId::of::<T>())?;
        let boxed = slot.into_inner().unwrap_or_else(|p| p.into_inner());
        boxed.downcast::<T>().ok().map(|b| *b)
    }

    /// Whether a resource of type `T` is present.
    pub fn contains<T: 'static>(&self) -> bool {
        self.slots.contains_key(&TypeId::of::<T>())
    }

    /// Borrows `T` for reading.
    pub fn try_read<T: 'static>(&self) -> Result<Res<'_, T>, BorrowError> {
        let slot = self
            .slots
            .get(&TypeId::of::<T>())
            .ok_or(BorrowError::Missing)?;
        let guard = match slot.try_read() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(BorrowError::Busy),
        };
        Ok(Res {
            guard,
            _marker: std::marker::PhantomData,
        })
    }

    /// Borrows `T` for writing.
    pub fn try_write<T: 'static>(&self) -> Result<ResMut<'_, T>, BorrowError> {
        let slot = self
            .slots
            .get(&TypeId::of::<T>())
            .ok_or(BorrowError::Missing)?;
        let guard = match slot.try_write() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(BorrowError::Busy),
        };
        Ok(ResMut {
            guard,
            _marker: std::marker::PhantomData,
        })
    }

    /// Exclusive access without locking, for code that owns the registry.
    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        let slot = self.slots.get_mut(&TypeId::of::<T>())?;
        let boxed = slot.get_mut().unwrap_or_else(|p| p.into_inner());
        boxed.downcast_mut::<T>()
    }
}

// The registry is keyed by `TypeId::of::<T>()` and only ever stores a `Box<T>`
// under that key, so the downcasts below cannot fail.
const KEYED_BY_TYPE: &str = "resource slot holds a value of its key's type";

impl<T: 'static> Deref for Res<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.downcast_ref::<T>().expect(KEYED_BY_TYPE)
    }
}

impl<T: 'static> Deref for ResMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.downcast_ref::<T>().expect(KEYED_BY_TYPE)
    }
}

impl<T: 'static> DerefMut for ResMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.downcast_mut::<T>().expect(KEYED_BY_TYPE)
    }
}

impl<T: std::fmt::Debug + 'static> std::fmt::Debug for Res<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Res<{}>({:?})", type_name::<T>(), &**self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_share_and_writer_excludes() {
        let mut r = Resources::default();
        r.insert(5u32);
        let a = r.try_read::<u32>().unwrap();
        let b = r.try_read::<u32>().unwrap();
        assert_eq!(*a + *b, 10);
        assert_eq!(r.try_write::<u32>().err(), Some(BorrowError::Busy));
        drop((a, b));
        *r.try_write::<u32>().unwrap() = 6;
        assert_eq!(*r.try_read::<u32>().unwrap(), 6);
    }

    #[test]
    fn missing_resource_is_an_error_not_a_panic() {
        let r = Resources::default();
        assert_eq!(r.try_read::<u8>().err(), Some(BorrowError::Missing));
    }

    #[test]
    fn remove_returns_the_value() {
        let mut r = Resources::default();
        r.insert(String::from("x"));
        assert_eq!(r.remove::<String>().as_deref(), Some("x"));
        assert!(!r.contains::<String>());
    }
}
