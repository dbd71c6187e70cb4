//! One shape for the state both drivers keep: owned by one event loop, or
//! shared by the threaded driver's threads behind a lock. Code written
//! against [`Hold`] (the file cache, the compressed variants, the access
//! log, the password verdicts) serves both, so no service has a loop twin
//! and a shared twin.

use std::ops::DerefMut;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Somewhere a `T` lives, taken for a moment (a lookup, or recording one):
/// `T` itself (an event loop's own), or [`Shared`].
pub(crate) trait Hold<T> {
    type Held<'a>: DerefMut<Target = T>
    where
        Self: 'a;

    fn hold(&mut self) -> Self::Held<'_>;
}

impl<T> Hold<T> for T {
    type Held<'a>
        = &'a mut T
    where
        T: 'a;

    fn hold(&mut self) -> &mut T {
        self
    }
}

/// A `T` the threaded driver's threads share: each holds it under a lock
/// for as long as one lookup or record takes, and may wait for it to
/// change ([`Shared::wait_until`]); clones share it.
pub(crate) struct Shared<T>(Arc<(Mutex<T>, Condvar)>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(T::default())
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Shared<T> {
        Shared(Arc::new((Mutex::new(value), Condvar::new())))
    }

    /// The value, locked (nothing kept under these locks is left
    /// half-updated by a panic in a way that matters: see `unpoison`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        crate::unpoison(self.0.0.lock())
    }

    /// Changes the value and wakes whoever waits for it to change.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.lock());
        self.0.1.notify_all();
        r
    }

    /// Waits until `f` gives an answer, at most until `until`; `None` if
    /// it never did.
    pub(crate) fn wait_until<R>(
        &self,
        until: std::time::Instant,
        mut f: impl FnMut(&mut T) -> Option<R>,
    ) -> Option<R> {
        let mut guard = self.lock();
        loop {
            if let Some(r) = f(&mut guard) {
                return Some(r);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            guard = crate::unpoison(self.0.1.wait_timeout(guard, left)).0;
        }
    }
}

impl<T> Hold<T> for Shared<T> {
    type Held<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;

    fn hold(&mut self) -> MutexGuard<'_, T> {
        self.lock()
    }
}
