//! Compile-fail tests for `#[derive(Model)]`: each `tests/ui/*.rs` is one
//! mistake, and the `.stderr` beside it is the message the user must see. Regenerate after changing a message with
//! `TRYBUILD=overwrite cargo test -p orm-ui`, then read the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
