//! A weak pointer in a `Cell`: what a `RefCell<Weak<T>>` does here, eight
//! bytes smaller (no borrow flag). Every object holds one to its session and
//! every `BelongsTo` one to its parent, so the flag cost a word per object.

use std::cell::Cell;
use std::rc::{Rc, Weak};

/// A `Weak<T>` read and replaced through a shared reference. Each read takes
/// the pointer out, looks at it, and puts it back: nothing in between can
/// reach the cell (no user code runs), so no read ever sees it empty.
pub(crate) struct WeakCell<T>(Cell<Weak<T>>);

impl<T> WeakCell<T> {
    /// A cell pointing at nothing.
    pub(crate) const fn new() -> Self {
        WeakCell(Cell::new(Weak::new()))
    }

    /// A cell pointing at what `weak` points at.
    pub(crate) fn from_weak(weak: Weak<T>) -> Self {
        WeakCell(Cell::new(weak))
    }

    /// Runs `look` on the pointer, in place.
    fn with<R>(&self, look: impl FnOnce(&Weak<T>) -> R) -> R {
        super::in_place(&self.0, |weak| look(weak))
    }

    /// The object, if it is alive.
    pub(crate) fn upgrade(&self) -> Option<Rc<T>> {
        self.with(Weak::upgrade)
    }

    /// Whether the object is alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.with(|weak| weak.strong_count() > 0)
    }

    /// The address it points at (dangling when it points at nothing).
    pub(crate) fn as_ptr(&self) -> *const T {
        self.with(Weak::as_ptr)
    }

    /// Points it at `weak` instead.
    pub(crate) fn set(&self, weak: Weak<T>) {
        self.0.set(weak);
    }

    /// Points it at nothing.
    pub(crate) fn clear(&self) {
        self.0.set(Weak::new());
    }
}

impl<T> Default for WeakCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weak_cell_follows_its_object_and_can_be_repointed() {
        let one = Rc::new(1);
        let cell = WeakCell::from_weak(Rc::downgrade(&one));
        assert_eq!(cell.upgrade().as_deref(), Some(&1));
        assert!(cell.is_alive());
        assert_eq!(cell.as_ptr(), Rc::as_ptr(&one));
        let two = Rc::new(2);
        cell.set(Rc::downgrade(&two));
        assert_eq!(cell.upgrade().as_deref(), Some(&2));
        drop(two);
        assert!(!cell.is_alive());
        assert_eq!(cell.upgrade(), None);
        cell.clear();
        assert_eq!(cell.upgrade(), None);
        assert_eq!(std::mem::size_of::<WeakCell<u8>>(), 8, "no borrow flag");
    }
}
