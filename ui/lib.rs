//! Nothing but a home for `tests/ui.rs`, which runs the derive's
//! compile-fail cases (`tests/ui/`) with trybuild.
