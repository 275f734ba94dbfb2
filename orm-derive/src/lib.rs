//! `#[derive(Model)]` for the `orm` crate. Use it through `orm`
//! (`use orm::prelude::*;`); its documentation lists the attributes and
//! what is generated.
//!
//! The derive runs in three stages, one module each: [`parse`] reads the
//! struct and its `#[orm(...)]` attributes, [`validate`] applies the rules
//! that span several fields, [`expand`] writes the code. Each stage collects
//! every error it finds, so one build shows all the mistakes.

#![warn(missing_docs)]

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod expand;
mod parse;
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
