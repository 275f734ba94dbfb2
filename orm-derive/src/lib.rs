//! `#[derive(Model)]` for the `orm` crate. Use it through `orm`
//! (`use orm::prelude::*;`); its documentation lists the attributes and
//! what is generated. Beside it, two small derives of one module each:
//! `#[derive(FromRow)]` ([`row`]) and `#[derive(ColumnType)]`
//! ([`column_type`]).
//!
//! The derive runs in three stages, one module each: [`parse`] reads the
//! struct and its `#[orm(...)]` attributes, [`validate`] applies the rules
//! that span several fields, [`expand`] writes the code. Each stage collects
//! every error it finds, so one build shows all the mistakes. A field, its
//! kind and the settings each kind takes live in [`field`]; the attribute's
//! keywords in [`symbol`].

#![warn(missing_docs)]

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod column_type;
mod expand;
mod field;
mod parse;
mod row;
mod symbol;
mod validate;

/// Maps a struct to a table. See the `orm` crate for the attributes and
/// for what is generated.
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match try_expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(expand::fallback(&input));
            tokens.into()
        }
    }
}

/// Reads a plain struct from a result row, field by field in order: for
/// `Session::sql_values` and a query's `select(...).all_as::<S>()`. See the
/// `orm` crate.
#[proc_macro_derive(FromRow)]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    row::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Stores an enum of unit variants (as TEXT, or as INTEGER with
/// `#[orm(repr = "integer")]`) or a newtype (as its field) in one column.
/// See `orm::ColumnType`.
#[proc_macro_derive(ColumnType, attributes(orm))]
pub fn derive_column_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    column_type::derive(&input).into()
}

/// Runs the three stages on one input.
fn try_expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let mut errors = parse::Errors::default();
    let model = parse::parse(input, &mut errors);
    let checked = model
        .as_ref()
        .and_then(|model| validate::validate(model, &mut errors));
    errors.finish()?;
    match checked {
        Some(checked) => Ok(expand::expand(&checked)),
        None => Err(syn::Error::new_spanned(&input.ident, "cannot derive Model")),
    }
}

#[cfg(test)]
mod tests {
    //! Keeps `docs/expansion.md` (shown in the `orm` docs) equal to what
    //! the derive really generates. Run with `UPDATE_EXPANSION=1` to rewrite
    //! it after a deliberate change, then review the diff.

    const USER: &str = r#"
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}"#;

    const ORDER: &str = r#"
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}"#;

    fn expansion(source: &str) -> String {
        let input: syn::DeriveInput = syn::parse_str(source).expect("test input parses");
        let tokens = super::try_expand(&input).expect("test input is valid");
        let file: syn::File = syn::parse2(tokens).expect("expansion parses as a file");
        prettyplease::unparse(&file)
    }

    fn document() -> String {
        format!(
            "# What `#[derive(Model)]` generates\n\n\
             The expansion of the users/orders pair, exactly as the derive writes it\n\
             (formatted; a test keeps this page true). Everything is fenced in\n\
             `const _: () = {{ ... }};` so that nothing but the impls escapes.\n\n\
             ## `User`\n\n```rust,ignore\n{}\n```\n\n```rust,ignore\n{}```\n\n\
             ## `Order`\n\n```rust,ignore\n{}\n```\n\n```rust,ignore\n{}```\n",
            USER.trim_start(),
            expansion(USER),
            ORDER.trim_start(),
            expansion(ORDER)
        )
    }

    #[test]
    fn expansion_doc_matches_what_the_derive_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/expansion.md");
        let expected = document();
        if std::env::var_os("UPDATE_EXPANSION").is_some() {
            std::fs::write(path, &expected).expect("docs/expansion.md is writable");
        }
        let actual = std::fs::read_to_string(path).expect("docs/expansion.md exists");
        assert_eq!(
            actual, expected,
            "the derive's output changed: rerun with UPDATE_EXPANSION=1 and review docs/expansion.md"
        );
    }
}
