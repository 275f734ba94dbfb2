//! Work on a value held in a `Cell`, in place: what a `RefCell` gives, one
//! word smaller (no borrow flag). Every object carries several such cells
//! (its change tracking, its session, each relationship field's key and
//! members), so the flags would cost a word each.
//!
//! The value is taken out for the work and put back after it, also when the
//! work panics (a user's key type may panic in `clone` or `eq`), so a caught
//! panic leaves the value where it was. While the work runs the cell holds
//! the type's default: the work must not reach the same cell, and no caller
//! runs code that could (no SQL, no callback, no drop of an object; of the
//! user's code only a key's `Clone` and `PartialEq`, which have no way back
//! to the cell).

use std::cell::Cell;
use std::mem::ManuallyDrop;

/// Runs `work` on the value in `cell`, in place, and puts it back.
pub(crate) fn in_place<T: Default, R>(cell: &Cell<T>, work: impl FnOnce(&mut T) -> R) -> R {
    let mut taken = PutBack {
        cell,
        value: ManuallyDrop::new(cell.take()),
    };
    work(&mut taken.value)
}

/// Puts the taken value back when dropped, whether the work returned or
/// unwound.
struct PutBack<'c, T: Default> {
    cell: &'c Cell<T>,
    /// Never dropped here: moved back into the cell.
    value: ManuallyDrop<T>,
}

impl<T: Default> Drop for PutBack<'_, T> {
    fn drop(&mut self) {
        // Two defaults are left over: the one the take left in the cell
        // (nothing reached it meanwhile) and the one moving the value out
        // leaves here. Both are forgotten rather than dropped: the defaults
        // used here (`None`, an empty `Weak`, an unloaded collection) own
        // nothing, and dropping one is a call per use for nothing (about
        // 300 instructions a post in the preloaded tree).
        let value = std::mem::take(&mut *self.value);
        std::mem::forget(self.cell.replace(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_back_after_the_work() {
        let cell = Cell::new(vec![1, 2]);
        let len = in_place(&cell, |v| {
            v.push(3);
            v.len()
        });
        assert_eq!(len, 3);
        assert_eq!(cell.take(), vec![1, 2, 3]);
    }

    #[test]
    fn the_value_is_back_after_a_panic_in_the_work() {
        let cell = Cell::new(Some(String::from("key")));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_place(&cell, |key| {
                assert!(key.is_some());
                panic!("a user's clone panicked");
            })
        }));
        assert!(caught.is_err());
        assert_eq!(cell.take().as_deref(), Some("key"));
    }
}
